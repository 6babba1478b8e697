// What replicas tell each other about an instance, and how a replica folds that into its own view (pure).
import type { InstanceHealth } from "./state.ts";

/** Durations, not timestamps: replicas' clocks need not agree. */
export type SharedHealth = {
  replica: string;
  instance: string;
  cooldownRemainingMs: number;
  cooldownReason: string | null;
  circuit: "open" | "closed";
  circuitRemainingMs: number;
  reopenCount: number;
};

export function toSharedHealth(replica: string, instance: string, state: InstanceHealth, now: number): SharedHealth {
  return {
    replica,
    instance,
    cooldownRemainingMs: Math.max(0, state.cooldownUntil - now),
    cooldownReason: state.cooldownReason,
    // A half-open circuit is a local probe in progress; to everyone else the instance is still out.
    circuit: state.circuit === "closed" ? "closed" : "open",
    circuitRemainingMs: Math.max(0, state.circuitOpenUntil - now),
    reopenCount: state.reopenCount,
  };
}

/** Longer cooldowns win; an open circuit elsewhere opens it here; a close elsewhere (a successful probe) closes it here. */
export function mergeSharedHealth(local: InstanceHealth, shared: SharedHealth, now: number): InstanceHealth {
  let next = local;
  const cooldownUntil = now + shared.cooldownRemainingMs;
  if (shared.cooldownRemainingMs > 0 && cooldownUntil > local.cooldownUntil) {
    next = { ...next, cooldownUntil, cooldownReason: shared.cooldownReason };
  }
  if (shared.circuit === "open" && shared.circuitRemainingMs > 0) {
    const until = now + shared.circuitRemainingMs;
    if (local.circuit === "closed" || until > local.circuitOpenUntil) {
      next = { ...next, circuit: "open", circuitOpenUntil: until, reopenCount: Math.max(local.reopenCount, shared.reopenCount), probeTakenAt: 0 };
    }
  } else if (shared.circuit === "closed" && local.circuit !== "closed") {
    next = { ...next, circuit: "closed", reopenCount: 0, probeTakenAt: 0, consecutiveFailures: 0 };
  }
  return next;
}

export function parseSharedHealth(text: string): SharedHealth | null {
  try {
    const value = JSON.parse(text) as Partial<SharedHealth>;
    if (typeof value.replica !== "string" || typeof value.instance !== "string") return null;
    if (typeof value.cooldownRemainingMs !== "number" || typeof value.circuitRemainingMs !== "number") return null;
    if (value.circuit !== "open" && value.circuit !== "closed") return null;
    return {
      replica: value.replica,
      instance: value.instance,
      cooldownRemainingMs: value.cooldownRemainingMs,
      cooldownReason: typeof value.cooldownReason === "string" ? value.cooldownReason : null,
      circuit: value.circuit,
      circuitRemainingMs: value.circuitRemainingMs,
      reopenCount: typeof value.reopenCount === "number" ? value.reopenCount : 0,
    };
  } catch {
    return null;
  }
}
