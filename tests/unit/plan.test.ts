import { describe, expect, it } from "bun:test";
import type { Availability } from "../../server/health/state.ts";
import { isOnlyThrottled, pickLastResort, planCandidates, soonestRecovery } from "../../server/routing/plan.ts";
import { buildTargetTable } from "../../server/routing/targets.ts";
import { buildConfig } from "../_support/proxy.ts";

const targets =
  buildTargetTable(
    buildConfig({
      instances: ["a", "b", "c"].map((name, index) => ({
        name,
        api_key: `k-${name}`,
        api_base: `http://${name}.test`,
        priority: index + 1,
        supported_models: ["m"],
      })),
    }),
  ).byModel.get("m") ?? [];

const plan = (availability: Record<string, Availability>, tried: string[] = [], noHeadroom: Record<string, number> = {}) =>
  planCandidates({
    targets,
    strategy: "failover",
    availability: (name) => availability[name] ?? { available: true, probe: false },
    headroom: (target) => (target.instance.name in noHeadroom ? { ok: false, until: noHeadroom[target.instance.name]! } : { ok: true }),
    state: () => ({ inFlight: 0, ewmaLatencyMs: null, utilisation: 0, errorRate: 0 }),
    sequence: 0,
    random: Math.random,
    tried: new Set(tried),
  });

describe("planCandidates", () => {
  it("leaves out tried, cooling, open and headroom-less instances, saying why and until when", () => {
    const result = plan({ a: { available: false, reason: "cooldown", until: 5000 } }, ["b"], { c: 9000 });
    expect(result.candidates).toEqual([]);
    expect(result.blocked.map((entry) => [entry.target.instance.name, entry.reason, entry.until])).toEqual([
      ["a", "cooldown", 5000],
      ["c", "no_headroom", 9000],
    ]);
    expect(isOnlyThrottled(result.blocked)).toBe(true);
    expect(soonestRecovery(result.blocked, 1000)).toBe(5000);
  });

  it("marks a half-open instance's attempt as the probe", () => {
    const result = plan({ a: { available: true, probe: true } });
    expect(result.candidates.map((t) => t.instance.name)).toEqual(["a", "b", "c"]);
    expect([...result.probes]).toEqual(["a"]);
  });

  it("picks the instance that failed least recently as the last resort when all are down", () => {
    const down = { available: false, reason: "circuit_open", until: 20_000 } as const;
    const result = plan({ a: down, b: down, c: { available: false, reason: "probe_down", until: Infinity } });
    expect(isOnlyThrottled(result.blocked)).toBe(false);
    const failedAt: Record<string, number> = { a: 300, b: 100, c: 200 };
    expect(pickLastResort(result.blocked, (name) => failedAt[name]!)?.instance.name).toBe("b");
  });

  it("has no last resort when everything is only throttled", () => {
    const result = plan({ a: { available: false, reason: "cooldown", until: 2 } }, ["b", "c"]);
    expect(pickLastResort(result.blocked, () => 0)).toBeNull();
  });
});
