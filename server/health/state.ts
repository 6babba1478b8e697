// The health of one instance as a pure state machine: cooldowns, the circuit breaker and active-probe verdicts.
import { EMPTY_OUTCOMES, addOutcome, countOutcomes, type OutcomeWindow } from "./outcome-window.ts";

export type CircuitState = "closed" | "open" | "half_open";

export type InstanceHealth = {
  /** No request is sent before this time (a 429's retry-after); 0 when not cooling down. */
  cooldownUntil: number;
  cooldownReason: string | null;
  circuit: CircuitState;
  /** While open: when the next probe request may go. */
  circuitOpenUntil: number;
  /** How many times the circuit re-opened in a row, for the doubling open interval. */
  reopenCount: number;
  /** A half-open circuit lets exactly one request through; this marks it as taken. */
  probeTakenAt: number;
  consecutiveFailures: number;
  /** Outcomes per second over the error-rate window (read with countOutcomes). */
  recent: OutcomeWindow;
  lastFailureAt: number;
  lastError: string | null;
  /** Set by an instance-level 401/403/404: the instance is misconfigured, not the caller. */
  misconfigured: string | null;
  /** The active prober's verdict: down after N failed probes, up again after M successes. */
  probe: { up: boolean; failures: number; successes: number };
};

export type HealthPolicy = {
  failureThreshold: number;
  errorRateThreshold: number;
  errorRateMinRequests: number;
  errorRateWindowMs: number;
  openBaseMs: number;
  openMaxMs: number;
  cooldownMinMs: number;
  cooldownMaxMs: number;
  cooldownDefaultMs: number;
  probeDownAfter: number;
  probeUpAfter: number;
};

export const DEFAULT_HEALTH_POLICY: HealthPolicy = {
  failureThreshold: 3,
  errorRateThreshold: 0.5,
  errorRateMinRequests: 10,
  errorRateWindowMs: 60_000,
  openBaseMs: 10_000,
  openMaxMs: 300_000,
  cooldownMinMs: 1_000,
  cooldownMaxMs: 60_000,
  cooldownDefaultMs: 5_000,
  probeDownAfter: 3,
  probeUpAfter: 2,
};

export type HealthEvent =
  | { type: "success" }
  | { type: "failure"; reason: "server_error" | "timeout" | "connection_error"; detail: string }
  | { type: "throttled"; retryAfterMs: number | undefined }
  | { type: "misconfigured"; detail: string }
  | { type: "probe"; ok: boolean; detail?: string }
  | { type: "reset" };

export const HEALTHY: InstanceHealth = Object.freeze({
  cooldownUntil: 0,
  cooldownReason: null,
  circuit: "closed",
  circuitOpenUntil: 0,
  reopenCount: 0,
  probeTakenAt: 0,
  consecutiveFailures: 0,
  recent: EMPTY_OUTCOMES,
  lastFailureAt: 0,
  lastError: null,
  misconfigured: null,
  probe: { up: true, failures: 0, successes: 0 },
});

export function nextHealth(state: InstanceHealth, event: HealthEvent, now: number, policy: HealthPolicy): InstanceHealth {
  switch (event.type) {
    case "reset":
      return HEALTHY;
    case "success": {
      const recent = addOutcome(state.recent, now, false, policy.errorRateWindowMs);
      // A successful half-open probe closes the circuit and forgets the doubling.
      if (state.circuit !== "closed") return { ...state, recent, circuit: "closed", reopenCount: 0, probeTakenAt: 0, consecutiveFailures: 0, misconfigured: null };
      return { ...state, recent, consecutiveFailures: 0, misconfigured: null };
    }
    case "throttled": {
      const wait = clamp(event.retryAfterMs ?? policy.cooldownDefaultMs, policy.cooldownMinMs, policy.cooldownMaxMs);
      const until = now + wait;
      // A longer cooldown is never shortened by a later, shorter one.
      if (until <= state.cooldownUntil) return state;
      return { ...state, cooldownUntil: until, cooldownReason: `429 from upstream, retry after ${wait} ms` };
    }
    case "failure":
    case "misconfigured": {
      const detail = event.detail;
      const failed: InstanceHealth = {
        ...state,
        recent: addOutcome(state.recent, now, true, policy.errorRateWindowMs),
        consecutiveFailures: state.consecutiveFailures + 1,
        lastFailureAt: now,
        lastError: detail,
        misconfigured: event.type === "misconfigured" ? detail : state.misconfigured,
      };
      if (state.circuit === "half_open" || (state.circuit === "open" && now >= state.circuitOpenUntil)) {
        return openCircuit(failed, now, state.reopenCount + 1, policy);
      }
      if (state.circuit === "closed" && shouldOpen(failed, now, policy)) return openCircuit(failed, now, 0, policy);
      return failed;
    }
    case "probe": {
      if (event.ok) {
        const successes = state.probe.successes + 1;
        const up = state.probe.up || successes >= policy.probeUpAfter;
        // The instance answers its probe again: an open circuit need not wait out its interval to find out.
        const circuit = up ? ({ circuit: "closed", reopenCount: 0, probeTakenAt: 0, consecutiveFailures: 0 } as const) : {};
        return { ...state, ...circuit, probe: { up, failures: 0, successes } };
      }
      const failures = state.probe.failures + 1;
      const up = state.probe.up && failures < policy.probeDownAfter;
      return {
        ...state,
        probe: { up, failures, successes: 0 },
        lastFailureAt: up ? state.lastFailureAt : now,
        lastError: event.detail ?? state.lastError,
      };
    }
  }
}

function shouldOpen(state: InstanceHealth, now: number, policy: HealthPolicy): boolean {
  if (state.consecutiveFailures >= policy.failureThreshold) return true;
  const { total, failures } = countOutcomes(state.recent, now);
  if (total < policy.errorRateMinRequests) return false;
  return failures / total >= policy.errorRateThreshold;
}

function openCircuit(state: InstanceHealth, now: number, reopenCount: number, policy: HealthPolicy): InstanceHealth {
  const openMs = Math.min(policy.openBaseMs * 2 ** reopenCount, policy.openMaxMs);
  return { ...state, circuit: "open", circuitOpenUntil: now + openMs, reopenCount, probeTakenAt: 0, recent: EMPTY_OUTCOMES };
}

/** Share of failed outcomes in the error-rate window ending at `now` (0 without outcomes). */
export function errorRateOf(state: InstanceHealth, now: number): number {
  const { total, failures } = countOutcomes(state.recent, now);
  return total === 0 ? 0 : failures / total;
}

export type Availability =
  | { available: true; probe: boolean }
  | { available: false; reason: "cooldown" | "circuit_open" | "probe_down"; until: number };

/**
 * Whether a request may go to this instance now. An open circuit whose interval has passed lets one
 * request through as the half-open probe (`probe: true`); the caller marks it taken with `takeProbe`.
 */
export function availabilityOf(state: InstanceHealth, now: number): Availability {
  if (now < state.cooldownUntil) return { available: false, reason: "cooldown", until: state.cooldownUntil };
  if (!state.probe.up) return { available: false, reason: "probe_down", until: Number.POSITIVE_INFINITY };
  if (state.circuit === "closed") return { available: true, probe: false };
  if (now < state.circuitOpenUntil) return { available: false, reason: "circuit_open", until: state.circuitOpenUntil };
  // Half-open: one probe at a time; a probe that never reports back frees the slot after an open interval.
  if (state.probeTakenAt > 0 && now - state.probeTakenAt < 30_000) {
    return { available: false, reason: "circuit_open", until: state.probeTakenAt + 30_000 };
  }
  return { available: true, probe: true };
}

export function takeProbe(state: InstanceHealth, now: number): InstanceHealth {
  return { ...state, circuit: "half_open", probeTakenAt: now };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}

export type HealthStatus = "healthy" | "cooling_down" | "circuit_open" | "half_open" | "down";

/** One word for dashboards and transition logs. */
export function statusOf(state: InstanceHealth, now: number): HealthStatus {
  if (!state.probe.up) return "down";
  if (state.circuit === "half_open") return "half_open";
  if (state.circuit === "open") return "circuit_open";
  if (now < state.cooldownUntil) return "cooling_down";
  return "healthy";
}
