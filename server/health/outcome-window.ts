// Request outcomes over the error-rate window as per-second counters in a ring (pure, copied on write).
// A success costs two small typed-array copies instead of filtering and copying a list of every outcome.

export type OutcomeWindow = Readonly<{
  /** The latest second (Unix time / 1000) counted; slots hold the `totals.length` seconds up to it. */
  second: number;
  totals: Uint32Array;
  failures: Uint32Array;
}>;

export type OutcomeCounts = { total: number; failures: number };

export const EMPTY_OUTCOMES: OutcomeWindow = Object.freeze({ second: 0, totals: new Uint32Array(0), failures: new Uint32Array(0) });

/** Whole seconds the window spans: at least one. */
export function slotsFor(windowMs: number): number {
  return Math.max(1, Math.ceil(windowMs / 1000));
}

const slotOf = (second: number, slots: number) => ((second % slots) + slots) % slots;

/** A new window with one more outcome at `now`; an outcome older than the window changes nothing. */
export function addOutcome(window: OutcomeWindow, now: number, failed: boolean, windowMs: number): OutcomeWindow {
  const slots = slotsFor(windowMs);
  const second = Math.floor(now / 1000);
  let totals: Uint32Array;
  let failures: Uint32Array;
  let latest = window.second;
  if (window.totals.length !== slots || window.totals.length === 0) {
    totals = new Uint32Array(slots);
    failures = new Uint32Array(slots);
    latest = second;
  } else {
    if (second <= latest - slots) return window;
    totals = window.totals.slice();
    failures = window.failures.slice();
    // Seconds between the latest counted and now had no outcome: their slots still hold a minute ago.
    for (let gap = 1; gap <= Math.min(second - latest, slots); gap++) {
      const slot = slotOf(latest + gap, slots);
      totals[slot] = 0;
      failures[slot] = 0;
    }
    latest = Math.max(latest, second);
  }
  const slot = slotOf(second, slots);
  totals[slot] = (totals[slot] ?? 0) + 1;
  if (failed) failures[slot] = (failures[slot] ?? 0) + 1;
  return { second: latest, totals, failures };
}

/** Outcomes in the window that ends at `now`. */
export function countOutcomes(window: OutcomeWindow, now: number): OutcomeCounts {
  const slots = window.totals.length;
  const counts = { total: 0, failures: 0 };
  if (slots === 0) return counts;
  const second = Math.floor(now / 1000);
  const from = Math.max(window.second, second) - slots + 1;
  const to = Math.min(window.second, second);
  for (let at = from; at <= to; at++) {
    const slot = slotOf(at, slots);
    counts.total += window.totals[slot] ?? 0;
    counts.failures += window.failures[slot] ?? 0;
  }
  return counts;
}
