import { describe, expect, it } from "bun:test";
import { compositeCost, orderTargets, type CandidateState } from "../../server/routing/strategies.ts";
import { buildTargetTable, type Target } from "../../server/routing/targets.ts";
import { buildConfig } from "../_support/proxy.ts";

const instance = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  api_key: `k-${name}`,
  api_base: `http://${name}.test`,
  supported_models: ["m"],
  ...extra,
});
const targetsOf = (...instances: Record<string, unknown>[]) =>
  buildTargetTable(buildConfig({ instances })).byModel.get("m") ?? [];
const names = (targets: Target[]) => targets.map((target) => target.instance.name);

/** A seeded generator, so distributions are reproducible. */
function seeded(seed = 7) {
  let state = seed;
  return () => ((state = (state * 16807) % 2147483647) - 1) / 2147483646;
}
const idle: CandidateState = { inFlight: 0, ewmaLatencyMs: 100, utilisation: 0, errorRate: 0 };
const sameState = () => idle;

describe("failover", () => {
  it("orders by lowest priority, then by higher weight", () => {
    const targets = targetsOf(instance("a", { priority: 2 }), instance("b", { priority: 1, weight: 1 }), instance("c", { priority: 1, weight: 5 }));
    expect(names(orderTargets("failover", { targets, state: sameState, sequence: 0, random: Math.random }))).toEqual(["c", "b", "a"]);
  });
});

describe("weighted", () => {
  it("splits 10,000 first picks within 2% of the weights", () => {
    const targets = targetsOf(instance("a", { weight: 1 }), instance("b", { weight: 3 }), instance("c", { weight: 6 }));
    const random = seeded();
    const counts: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) {
      const first = orderTargets("weighted", { targets, state: sameState, sequence: i, random })[0]!.instance.name;
      counts[first] = (counts[first] ?? 0) + 1;
    }
    expect(Math.abs(counts.a! / 10_000 - 0.1)).toBeLessThan(0.02);
    expect(Math.abs(counts.b! / 10_000 - 0.3)).toBeLessThan(0.02);
    expect(Math.abs(counts.c! / 10_000 - 0.6)).toBeLessThan(0.02);
  });

  it("keeps every candidate in the order as a fallback", () => {
    const targets = targetsOf(instance("a"), instance("b"), instance("c"));
    expect(names(orderTargets("weighted", { targets, state: sameState, sequence: 0, random: seeded() })).sort()).toEqual(["a", "b", "c"]);
  });
});

describe("round_robin", () => {
  it("rotates exactly over the candidates", () => {
    const targets = targetsOf(instance("a"), instance("b"), instance("c"));
    const firsts = Array.from({ length: 6 }, (_, sequence) => orderTargets("round_robin", { targets, state: sameState, sequence, random: Math.random })[0]!.instance.name);
    expect(firsts).toEqual(["a", "b", "c", "a", "b", "c"]);
  });
});

describe("composite", () => {
  it("prefers the cheaper instance within a priority group", () => {
    const targets = targetsOf(instance("slow"), instance("fast"));
    const state = (target: Target): CandidateState =>
      target.instance.name === "slow" ? { ...idle, ewmaLatencyMs: 900 } : { ...idle, ewmaLatencyMs: 100 };
    expect(names(orderTargets("composite", { targets, state, sequence: 0, random: seeded() }))).toEqual(["fast", "slow"]);
  });

  it("respects priority groups before cost", () => {
    const targets = targetsOf(instance("backup", { priority: 2 }), instance("primary", { priority: 1 }));
    const state = (target: Target): CandidateState =>
      target.instance.name === "primary" ? { ...idle, ewmaLatencyMs: 2000, inFlight: 10 } : idle;
    expect(names(orderTargets("composite", { targets, state, sequence: 0, random: seeded() }))).toEqual(["primary", "backup"]);
  });

  it("weighs in-flight requests, errors and utilisation", () => {
    expect(compositeCost({ ...idle, inFlight: 3 }, 1)).toBe(compositeCost(idle, 1) * 4);
    expect(compositeCost({ ...idle, errorRate: 0.5 }, 1)).toBe(compositeCost(idle, 1) * 3);
    expect(compositeCost({ ...idle, utilisation: 0.5 }, 1)).toBe(compositeCost(idle, 1) * 2);
    expect(compositeCost({ ...idle, utilisation: 1 }, 1)).toBe(compositeCost(idle, 1) * 20);
    expect(compositeCost(idle, 2)).toBe(compositeCost(idle, 1) / 2);
  });
});

describe("latency (power of two choices)", () => {
  it("never leads with the worse of the two sampled candidates", () => {
    const targets = targetsOf(instance("a"), instance("b"), instance("c"));
    const latency: Record<string, number> = { a: 50, b: 500, c: 100 };
    const state = (target: Target): CandidateState => ({ ...idle, ewmaLatencyMs: latency[target.instance.name]! });
    const random = seeded(3);
    const leads: Record<string, number> = {};
    for (let i = 0; i < 3000; i++) {
      const order = orderTargets("latency", { targets, state, sequence: i, random });
      leads[order[0]!.instance.name] = (leads[order[0]!.instance.name] ?? 0) + 1;
      expect(order).toHaveLength(3);
    }
    // b only leads if sampled against itself, which cannot happen: it is always the worse of two.
    expect(leads.b ?? 0).toBe(0);
    // a wins every pair it is in (2 of 3 pairs); c wins the remaining pair.
    expect(Math.abs(leads.a! / 3000 - 2 / 3)).toBeLessThan(0.03);
  });

  it("counts queued requests: a fast instance with a queue loses to an idle slower one", () => {
    const targets = targetsOf(instance("fast"), instance("idle"));
    const state = (target: Target): CandidateState =>
      target.instance.name === "fast" ? { ...idle, ewmaLatencyMs: 100, inFlight: 4 } : { ...idle, ewmaLatencyMs: 300 };
    expect(names(orderTargets("latency", { targets, state, sequence: 0, random: seeded() }))[0]).toBe("idle");
  });
});
