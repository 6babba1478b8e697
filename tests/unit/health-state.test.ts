import { describe, expect, it } from "bun:test";
import { countOutcomes } from "../../server/health/outcome-window.ts";
import {
  DEFAULT_HEALTH_POLICY as policy,
  HEALTHY,
  availabilityOf,
  nextHealth,
  statusOf,
  takeProbe,
  type HealthEvent,
  type InstanceHealth,
} from "../../server/health/state.ts";

const fail: HealthEvent = { type: "failure", reason: "server_error", detail: "503" };
const apply = (state: InstanceHealth, events: HealthEvent[], now: number) => events.reduce((s, e) => nextHealth(s, e, now, policy), state);

describe("cooldown", () => {
  it("cools an instance down for the retry-after it was given", () => {
    const state = nextHealth(HEALTHY, { type: "throttled", retryAfterMs: 2500 }, 1000, policy);
    expect(state.cooldownUntil).toBe(3500);
    expect(availabilityOf(state, 3499)).toEqual({ available: false, reason: "cooldown", until: 3500 });
    expect(availabilityOf(state, 3500)).toEqual({ available: true, probe: false });
    expect(statusOf(state, 2000)).toBe("cooling_down");
  });

  it("clamps to [1 s, 60 s] and uses 5 s when no retry-after came", () => {
    expect(nextHealth(HEALTHY, { type: "throttled", retryAfterMs: 10 }, 0, policy).cooldownUntil).toBe(1000);
    expect(nextHealth(HEALTHY, { type: "throttled", retryAfterMs: 86_400_000 }, 0, policy).cooldownUntil).toBe(60_000);
    expect(nextHealth(HEALTHY, { type: "throttled", retryAfterMs: undefined }, 0, policy).cooldownUntil).toBe(5000);
  });

  it("never shortens a longer cooldown with a later shorter one", () => {
    const long = nextHealth(HEALTHY, { type: "throttled", retryAfterMs: 30_000 }, 0, policy);
    expect(nextHealth(long, { type: "throttled", retryAfterMs: 1000 }, 100, policy)).toBe(long);
    expect(nextHealth(long, { type: "throttled", retryAfterMs: 40_000 }, 100, policy).cooldownUntil).toBe(40_100);
  });

  it("does not count a 429 as a failure", () => {
    const state = apply(HEALTHY, [{ type: "throttled", retryAfterMs: 1000 }, { type: "throttled", retryAfterMs: 1000 }, { type: "throttled", retryAfterMs: 1000 }], 0);
    expect(state.circuit).toBe("closed");
    expect(state.consecutiveFailures).toBe(0);
  });
});

describe("circuit breaker", () => {
  it("opens after 3 consecutive failures for 10 s", () => {
    const twice = apply(HEALTHY, [fail, fail], 0);
    expect(twice.circuit).toBe("closed");
    const thrice = nextHealth(twice, fail, 0, policy);
    expect(thrice).toMatchObject({ circuit: "open", circuitOpenUntil: 10_000 });
    expect(availabilityOf(thrice, 9_999)).toEqual({ available: false, reason: "circuit_open", until: 10_000 });
  });

  it("a success resets the consecutive count", () => {
    expect(apply(HEALTHY, [fail, fail, { type: "success" }, fail, fail], 0).circuit).toBe("closed");
  });

  it("opens on a 50% error rate over at least 10 requests in the window", () => {
    const events: HealthEvent[] = [];
    for (let i = 0; i < 5; i++) events.push({ type: "success" }, fail);
    const state = apply(HEALTHY, events.slice(0, 9), 0);
    expect(state.circuit).toBe("closed");
    expect(nextHealth(state, events[9]!, 0, policy).circuit).toBe("open");
  });

  it("forgets failures older than the window", () => {
    let state = HEALTHY;
    for (let i = 0; i < 8; i++) state = nextHealth(nextHealth(state, { type: "success" }, i * 1000, policy), fail, i * 1000, policy);
    // 16 outcomes, half failed, but spread so that only the last ones are in the window at t = 66 s.
    state = nextHealth(state, { type: "success" }, 66_000, policy);
    expect(countOutcomes(state.recent, 66_000).total).toBeLessThan(10);
    expect(state.circuit).toBe("closed");
  });

  it("lets exactly one probe through after the interval; success closes, failure doubles the interval", () => {
    const open = apply(HEALTHY, [fail, fail, fail], 0);
    const due = availabilityOf(open, 10_000);
    expect(due).toEqual({ available: true, probe: true });
    const probing = takeProbe(open, 10_000);
    expect(statusOf(probing, 10_000)).toBe("half_open");
    expect(availabilityOf(probing, 10_001).available).toBe(false);
    expect(nextHealth(probing, { type: "success" }, 10_050, policy)).toMatchObject({ circuit: "closed", reopenCount: 0 });
    const reopened = nextHealth(probing, fail, 10_050, policy);
    expect(reopened).toMatchObject({ circuit: "open", circuitOpenUntil: 30_050, reopenCount: 1 });
    const again = nextHealth(takeProbe(reopened, 30_050), fail, 30_060, policy);
    expect(again).toMatchObject({ circuitOpenUntil: 70_060, reopenCount: 2 });
  });

  it("caps the open interval at 300 s", () => {
    let state = apply(HEALTHY, [fail, fail, fail], 0);
    for (let i = 0; i < 10; i++) state = nextHealth(takeProbe(state, state.circuitOpenUntil), fail, state.circuitOpenUntil, policy);
    expect(state.circuitOpenUntil - (state.lastFailureAt)).toBe(300_000);
  });

  it("marks a misconfigured instance with the reason and counts it as a failure", () => {
    const state = nextHealth(HEALTHY, { type: "misconfigured", detail: "upstream answered 404 (DeploymentNotFound)" }, 0, policy);
    expect(state).toMatchObject({ misconfigured: "upstream answered 404 (DeploymentNotFound)", consecutiveFailures: 1 });
    expect(nextHealth(state, { type: "success" }, 1, policy).misconfigured).toBeNull();
  });
});

describe("active probes", () => {
  const probe = (ok: boolean): HealthEvent => ({ type: "probe", ok });
  it("marks an instance down after 3 failed probes and up after 2 successes", () => {
    const down = apply(HEALTHY, [probe(false), probe(false)], 0);
    expect(down.probe.up).toBe(true);
    const reallyDown = nextHealth(down, probe(false), 5, policy);
    expect(availabilityOf(reallyDown, 5)).toMatchObject({ available: false, reason: "probe_down" });
    expect(statusOf(reallyDown, 5)).toBe("down");
    const once = nextHealth(reallyDown, probe(true), 10, policy);
    expect(once.probe.up).toBe(false);
    expect(nextHealth(once, probe(true), 20, policy).probe.up).toBe(true);
  });

  it("closes an open circuit when the instance answers its probe", () => {
    const open = apply(HEALTHY, [fail, fail, fail], 0);
    expect(nextHealth(open, probe(true), 1000, policy).circuit).toBe("closed");
  });

  it("reset clears everything", () => {
    expect(nextHealth(apply(HEALTHY, [fail, fail, fail, { type: "throttled", retryAfterMs: 30_000 }], 0), { type: "reset" }, 1, policy)).toBe(HEALTHY);
  });
});
