import { describe, expect, it } from "bun:test";
import { EMPTY_OUTCOMES, addOutcome, countOutcomes, type OutcomeWindow } from "../../server/health/outcome-window.ts";
import { DEFAULT_HEALTH_POLICY as policy, HEALTHY, errorRateOf, nextHealth } from "../../server/health/state.ts";

const WINDOW_MS = 60_000;
const add = (window: OutcomeWindow, at: number, failed: boolean) => addOutcome(window, at, failed, WINDOW_MS);

describe("outcome window", () => {
  it("counts outcomes and failures within the window", () => {
    let window = EMPTY_OUTCOMES;
    window = add(window, 1_000, false);
    window = add(window, 1_500, true);
    window = add(window, 30_000, true);
    expect(countOutcomes(window, 30_000)).toEqual({ total: 3, failures: 2 });
  });

  it("drops seconds that slid out of the window, also when read later without new outcomes", () => {
    let window = add(EMPTY_OUTCOMES, 0, true);
    window = add(window, 59_000, false);
    expect(countOutcomes(window, 59_999)).toEqual({ total: 2, failures: 1 });
    expect(countOutcomes(window, 60_000)).toEqual({ total: 1, failures: 0 });
    expect(countOutcomes(window, 200_000)).toEqual({ total: 0, failures: 0 });
    // A slot reused a minute later starts from zero.
    window = add(window, 120_000, false);
    expect(countOutcomes(window, 120_000)).toEqual({ total: 1, failures: 0 });
  });

  it("ignores an outcome older than the window and counts a slightly late one", () => {
    const window = add(EMPTY_OUTCOMES, 100_000, false);
    expect(add(window, 10_000, true)).toBe(window);
    expect(countOutcomes(add(window, 99_000, true), 100_000)).toEqual({ total: 2, failures: 1 });
  });

  it("never changes the window it was given", () => {
    const before = add(EMPTY_OUTCOMES, 5_000, false);
    add(before, 5_000, true);
    add(before, 70_000, true);
    expect(countOutcomes(before, 5_000)).toEqual({ total: 1, failures: 0 });
    expect(countOutcomes(EMPTY_OUTCOMES, 5_000)).toEqual({ total: 0, failures: 0 });
  });

  it("gives the error rate the router weighs", () => {
    const fail = { type: "failure", reason: "server_error", detail: "503" } as const;
    let state = nextHealth(HEALTHY, { type: "success" }, 1_000, policy);
    state = nextHealth(state, fail, 2_000, policy);
    state = nextHealth(state, { type: "success" }, 3_000, policy);
    state = nextHealth(state, { type: "success" }, 4_000, policy);
    expect(errorRateOf(state, 4_000)).toBe(0.25);
    expect(errorRateOf(HEALTHY, 4_000)).toBe(0);
    expect(errorRateOf(state, 70_000)).toBe(0);
  });
});
