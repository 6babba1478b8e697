import { describe, expect, it } from "bun:test";
import type { InstanceMetrics, InstanceView, MetricsSample, RecentError } from "../../dashboard/src/contract.ts";
import { reduceEvent, type DashboardEvent } from "../../dashboard/src/reduce.ts";
import { createInitialState, LIVE_WINDOW_MS, RECENT_ERRORS_KEPT, type DashboardState } from "../../dashboard/src/state.ts";

function instance(name: string, overrides: Partial<InstanceView["state"]> = {}): InstanceView {
  const tunables = { enabled: true, weight: 1, priority: 1, max_tpm: 1000, max_rpm: null };
  return {
    ...tunables,
    name,
    provider_type: "azure",
    api_base: `https://${name}.openai.azure.com`,
    api_key_masked: "…abcd",
    api_version: "2024-10-21",
    supported_models: ["gpt-4o"],
    model_deployments: {},
    file: tunables,
    overrides: null,
    drift: [],
    state: {
      status: "healthy",
      circuit: "closed",
      cooldown_until: null,
      cooldown_reason: null,
      in_flight: 0,
      ewma_latency_ms: null,
      limiter: { tokens_used: 0, requests_used: 0, max_tpm: 1000, max_rpm: null, utilisation: 0 },
      azure_remaining: { tokens: null, requests: null },
      last_error: null,
      ...overrides,
    },
  };
}

function metrics(requestsPerS: number): InstanceMetrics {
  return {
    requests_per_s: requestsPerS,
    tokens_per_s: requestsPerS * 10,
    latency_p50_ms: 20,
    latency_p95_ms: 40,
    errors: 0,
    error_rate: 0,
    utilisation: 0.1,
    in_flight: 1,
  };
}

function sample(at: number, requestsPerS = 1): MetricsSample {
  return { at, instances: { east: metrics(requestsPerS) } };
}

function requestError(at: number, requestId: string): RecentError {
  return { at, model: "gpt-4o", instance: "east", status: 429, code: "rate_limit_exceeded", request_id: requestId };
}

const fold = (events: DashboardEvent[], state: DashboardState = createInitialState()) => events.reduce(reduceEvent, state);

describe("reduceEvent: snapshot", () => {
  it("takes the fleet and recent errors from the snapshot and goes live", () => {
    const state = fold([
      { type: "snapshot", data: { at: 1000, instances: [instance("east"), instance("west")], recent_errors: [requestError(900, "a"), requestError(950, "b")] } },
    ]);
    expect(state.connection).toBe("live");
    expect(state.instances.map((view) => view.name)).toEqual(["east", "west"]);
    expect(state.recentErrors.map((error) => error.request_id)).toEqual(["b", "a"]);
  });

  it("replaces the fleet on a resync but keeps chart history", () => {
    const state = fold([
      { type: "snapshot", data: { at: 1000, instances: [instance("east"), instance("west")], recent_errors: [] } },
      { type: "metrics", data: sample(2000) },
      { type: "connection", status: "reconnecting" },
      { type: "snapshot", data: { at: 5000, instances: [instance("east")], recent_errors: [requestError(4000, "c")] } },
    ]);
    expect(state.connection).toBe("live");
    expect(state.instances.map((view) => view.name)).toEqual(["east"]);
    expect(state.samples.map((s) => s.at)).toEqual([2000]);
    expect(state.recentErrors.map((error) => error.request_id)).toEqual(["c"]);
  });
});

describe("reduceEvent: metrics", () => {
  it("appends samples in order and rolls off those older than the live window", () => {
    const start = 1_000_000;
    const state = fold([
      { type: "metrics", data: sample(start) },
      { type: "metrics", data: sample(start + 1000) },
      { type: "metrics", data: sample(start + LIVE_WINDOW_MS) },
      { type: "metrics", data: sample(start + LIVE_WINDOW_MS + 1000) },
    ]);
    expect(state.samples.map((s) => s.at - start)).toEqual([1000, LIVE_WINDOW_MS, LIVE_WINDOW_MS + 1000]);
  });

  it("ignores a sample that is not newer than the last one, so a replay cannot run the charts backwards", () => {
    const before = fold([{ type: "metrics", data: sample(2000, 1) }]);
    expect(reduceEvent(before, { type: "metrics", data: sample(2000, 9) })).toBe(before);
    expect(reduceEvent(before, { type: "metrics", data: sample(1000, 9) })).toBe(before);
  });

  it("never mutates the state it was given", () => {
    const before = fold([{ type: "metrics", data: sample(1000) }]);
    const frozen = structuredClone(before);
    reduceEvent(before, { type: "metrics", data: sample(2000) });
    expect(before).toEqual(frozen);
  });
});

describe("reduceEvent: instances", () => {
  it("replaces one instance in place and appends one it did not know", () => {
    const base = fold([{ type: "snapshot", data: { at: 1, instances: [instance("east"), instance("west")], recent_errors: [] } }]);
    const cooled = instance("east", { status: "cooldown", cooldown_until: 9000, cooldown_reason: "throttled" });
    const state = fold(
      [
        { type: "instance", data: { at: 2, instance: cooled } },
        { type: "instance", data: { at: 3, instance: instance("north") } },
      ],
      base,
    );
    expect(state.instances.map((view) => view.name)).toEqual(["east", "west", "north"]);
    expect(state.instances[0]).toEqual(cooled);
    expect(state.instances[1]).toBe(base.instances[1]!);
  });

  it("takes a fetched fleet whole", () => {
    const base = fold([{ type: "snapshot", data: { at: 1, instances: [instance("east"), instance("west")], recent_errors: [] } }]);
    const state = reduceEvent(base, { type: "fleet", instances: [instance("west")] });
    expect(state.instances.map((view) => view.name)).toEqual(["west"]);
  });

  it("asks for a fleet refetch on every config change", () => {
    const state = fold([
      { type: "config", data: { at: 1, reason: "override", instances: ["east"] } },
      { type: "config", data: { at: 2, reason: "reload", instances: ["east", "west"] } },
    ]);
    expect(state.fleetVersion).toBe(2);
  });
});

describe("reduceEvent: recent errors", () => {
  it("keeps the newest few, newest first", () => {
    const events: DashboardEvent[] = Array.from({ length: RECENT_ERRORS_KEPT + 5 }, (_, i) => ({ type: "request_error", data: requestError(i, `r${i}`) }));
    const state = fold(events);
    expect(state.recentErrors).toHaveLength(RECENT_ERRORS_KEPT);
    expect(state.recentErrors[0]?.request_id).toBe(`r${RECENT_ERRORS_KEPT + 4}`);
    expect(state.recentErrors.at(-1)?.request_id).toBe("r5");
  });

  it("does not list an error twice when a live event and a snapshot both carry it", () => {
    const state = fold([
      { type: "request_error", data: requestError(10, "dup") },
      { type: "snapshot", data: { at: 20, instances: [], recent_errors: [requestError(10, "dup"), requestError(5, "old")] } },
      { type: "request_error", data: requestError(10, "dup") },
    ]);
    expect(state.recentErrors.map((error) => error.request_id)).toEqual(["dup", "old"]);
  });
});

describe("reduceEvent: connection", () => {
  it("tracks the connection and returns the same state when nothing changed", () => {
    const reconnecting = reduceEvent(createInitialState(), { type: "connection", status: "reconnecting" });
    expect(reconnecting.connection).toBe("reconnecting");
    expect(reduceEvent(reconnecting, { type: "connection", status: "reconnecting" })).toBe(reconnecting);
  });
});
