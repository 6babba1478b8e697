import { describe, expect, it } from "bun:test";
import { mergeSharedHealth, parseSharedHealth, toSharedHealth } from "../../server/health/shared-state.ts";
import { HEALTHY, type InstanceHealth } from "../../server/health/state.ts";

const open: InstanceHealth = { ...HEALTHY, circuit: "open", circuitOpenUntil: 20_000, reopenCount: 1 };

describe("shared health between replicas", () => {
  it("travels as durations so replicas' clocks need not agree", () => {
    const shared = toSharedHealth("r1", "east", { ...HEALTHY, cooldownUntil: 5000, cooldownReason: "429" }, 1000);
    expect(shared).toEqual({
      replica: "r1",
      instance: "east",
      cooldownRemainingMs: 4000,
      cooldownReason: "429",
      circuit: "closed",
      circuitRemainingMs: 0,
      reopenCount: 0,
    });
    // The receiving replica's clock reads 50_000: the cooldown ends 4 s from its own now.
    expect(mergeSharedHealth(HEALTHY, shared, 50_000).cooldownUntil).toBe(54_000);
  });

  it("keeps the longer of two cooldowns", () => {
    const local = { ...HEALTHY, cooldownUntil: 9000 };
    const shorter = toSharedHealth("r1", "east", { ...HEALTHY, cooldownUntil: 2000 }, 1000);
    expect(mergeSharedHealth(local, shorter, 1000)).toBe(local);
  });

  it("opens a closed circuit, and closes an open one when another replica's probe succeeded", () => {
    const opened = mergeSharedHealth(HEALTHY, toSharedHealth("r1", "east", open, 10_000), 0);
    expect(opened).toMatchObject({ circuit: "open", circuitOpenUntil: 10_000, reopenCount: 1 });
    expect(mergeSharedHealth(open, toSharedHealth("r1", "east", HEALTHY, 0), 0).circuit).toBe("closed");
  });

  it("shares a half-open circuit as open", () => {
    expect(toSharedHealth("r", "east", { ...open, circuit: "half_open" }, 0).circuit).toBe("open");
  });

  it("ignores messages that are not ours to read", () => {
    expect(parseSharedHealth("nope")).toBeNull();
    expect(parseSharedHealth('{"replica":"r","instance":"e","circuit":"maybe","cooldownRemainingMs":0,"circuitRemainingMs":0}')).toBeNull();
  });
});
