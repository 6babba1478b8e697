// Whether the shared store is usable, why not, and when to say so: pure transitions with the time passed in.

export type StoreHealth = {
  up: boolean;
  reason: string | null;
  /** Last time a "down" warning was logged; warnings repeat at most once per interval. */
  lastWarnAtMs: number | null;
  /** A warning went out since the store was last up, so its recovery is worth a line too. */
  warned: boolean;
};

export type HealthChange = { health: StoreHealth; warn: boolean; recovered: boolean };

export function initialStoreHealth(reason: string): StoreHealth {
  return { up: false, reason, lastWarnAtMs: null, warned: false };
}

export function markStoreDown(health: StoreHealth, reason: string, nowMs: number, warnIntervalMs: number): HealthChange {
  const warn = health.lastWarnAtMs === null || nowMs - health.lastWarnAtMs >= warnIntervalMs;
  return {
    health: {
      up: false,
      reason,
      lastWarnAtMs: warn ? nowMs : health.lastWarnAtMs,
      warned: health.warned || warn,
    },
    warn,
    recovered: false,
  };
}

export function markStoreUp(health: StoreHealth): HealthChange {
  return {
    health: { up: true, reason: null, lastWarnAtMs: health.lastWarnAtMs, warned: false },
    warn: false,
    recovered: !health.up && health.warned,
  };
}
