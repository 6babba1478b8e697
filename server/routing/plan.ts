// Chooses the candidates for one request (pure): available instances for the model, in the strategy's order.
import type { Availability } from "../health/state.ts";
import { orderTargets, type CandidateState, type Strategy } from "./strategies.ts";
import type { Target } from "./targets.ts";

export type BlockReason = "cooldown" | "circuit_open" | "probe_down" | "no_headroom";

export type PlanInput = {
  targets: readonly Target[];
  strategy: Strategy;
  availability: (instance: string) => Availability;
  /** The limiter's verdict for this request's estimate; `until` is when enough capacity frees. */
  headroom: (target: Target) => { ok: true } | { ok: false; until: number };
  state: (target: Target) => CandidateState;
  sequence: number;
  random: () => number;
  /** Instances this request already tried: never the same one twice. */
  tried: ReadonlySet<string>;
};

export type Plan = {
  candidates: Target[];
  /** Instances whose attempt is a half-open circuit's single probe. */
  probes: ReadonlySet<string>;
  blocked: Array<{ target: Target; reason: BlockReason; until: number }>;
};

export function planCandidates(input: PlanInput): Plan {
  const available: Target[] = [];
  const probes = new Set<string>();
  const blocked: Plan["blocked"] = [];
  for (const target of input.targets) {
    if (input.tried.has(target.instance.name)) continue;
    const availability = input.availability(target.instance.name);
    if (!availability.available) {
      blocked.push({ target, reason: availability.reason, until: availability.until });
      continue;
    }
    const headroom = input.headroom(target);
    if (!headroom.ok) {
      blocked.push({ target, reason: "no_headroom", until: headroom.until });
      continue;
    }
    if (availability.probe) probes.add(target.instance.name);
    available.push(target);
  }
  const candidates = orderTargets(input.strategy, {
    targets: available,
    state: input.state,
    sequence: input.sequence,
    random: input.random,
  });
  return { candidates, probes, blocked };
}

/** True when everything blocked is only waiting for quota (a 429 with a known retry time is the honest answer). */
export function isOnlyThrottled(blocked: Plan["blocked"]): boolean {
  return blocked.length > 0 && blocked.every((entry) => entry.reason === "cooldown" || entry.reason === "no_headroom");
}

/** When every instance is down, the proxy probes the one whose last failure is oldest instead of refusing outright. */
export function pickLastResort(blocked: Plan["blocked"], lastFailureAt: (instance: string) => number): Target | null {
  const down = blocked.filter((entry) => entry.reason === "circuit_open" || entry.reason === "probe_down");
  if (down.length === 0) return null;
  return down.reduce((best, entry) =>
    lastFailureAt(entry.target.instance.name) < lastFailureAt(best.target.instance.name) ? entry : best,
  ).target;
}

/** Soonest moment any blocked instance can take a request again. */
export function soonestRecovery(blocked: Plan["blocked"], now: number): number {
  const times = blocked.map((entry) => entry.until).filter((until) => Number.isFinite(until) && until > now);
  return times.length > 0 ? Math.min(...times) : now + 1000;
}
