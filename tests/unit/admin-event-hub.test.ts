// The event hub and its per-subscriber queues: bounded outboxes, heartbeats, metrics frames, release on disconnect.
import { describe, expect, it } from "bun:test";
import { createEventHub } from "../../server/admin/event-hub.ts";
import { HEARTBEAT_FRAME, createFrameQueue, toSseFrame } from "../../server/admin/frame-queue.ts";
import { createLiveMetrics, percentile } from "../../server/admin/live-metrics.ts";
import { createEventBus } from "../../server/events/bus.ts";
import { toRequestRecord } from "../../server/proxy/request-record.ts";
import { until } from "../_support/until.ts";

describe("frame queue", () => {
  it("drops the oldest frames when a subscriber falls behind, and ends with null once closed", async () => {
    const queue = createFrameQueue(3);
    for (const frame of ["1", "2", "3", "4", "5"]) queue.push(frame);
    expect(queue.size).toBe(3);
    expect(queue.dropped).toBe(2);
    expect([await queue.next(), await queue.next(), await queue.next()]).toEqual(["3", "4", "5"]);
    const waiting = queue.next();
    queue.push("6");
    expect(await waiting).toBe("6");
    const parked = queue.next();
    queue.close();
    expect(await parked).toBeNull();
    queue.push("7");
    expect(await queue.next()).toBeNull();
  });

  it("frames events the way EventSource reads them", () => {
    expect(toSseFrame("config", { a: 1 })).toBe('event: config\ndata: {"a":1}\n\n');
    expect(HEARTBEAT_FRAME).toBe(": heartbeat\n\n");
  });
});

describe("live metrics", () => {
  it("counts attempts, errors, tokens and latency percentiles per instance for the last interval", () => {
    const metrics = createLiveMetrics();
    const identity = { requestId: "r", startedAt: 0, clientName: null, model: "m", endpoint: "/chat/completions", stream: false };
    for (const latencyMs of [10, 20, 30, 40]) {
      metrics.observe(
        toRequestRecord(identity, latencyMs, {
          status: 200,
          instance: "a",
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
          failedAttempts: latencyMs === 40 ? [{ instance: "b", status: 500, reason: "server_error", latencyMs: 5 }] : [],
        }),
      );
    }
    const frame = metrics.drain(["a", "b", "c"], (name) => ({ utilisation: name === "a" ? 0.25 : 0, in_flight: 1 }), 2000);
    expect(frame).toEqual({
      a: { requests_per_s: 2, tokens_per_s: 4, latency_p50_ms: 20, latency_p95_ms: 40, errors: 0, error_rate: 0, utilisation: 0.25, in_flight: 1 },
      b: { requests_per_s: 0.5, tokens_per_s: 0, latency_p50_ms: null, latency_p95_ms: null, errors: 1, error_rate: 1, utilisation: 0, in_flight: 1 },
      c: { requests_per_s: 0, tokens_per_s: 0, latency_p50_ms: null, latency_p95_ms: null, errors: 0, error_rate: 0, utilisation: 0, in_flight: 1 },
    });
    expect(metrics.drain(["a"], () => ({ utilisation: 0, in_flight: 0 }), 1000).a?.requests_per_s).toBe(0);
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile([5], 0.95)).toBe(5);
  });
});

describe("event hub", () => {
  it("gives each subscriber a snapshot, heartbeats and metrics, and forgets it on release", async () => {
    const bus = createEventBus();
    const hub = createEventHub({
      bus,
      metrics: createLiveMetrics(),
      views: () => [],
      view: () => null,
      names: () => ["a"],
      live: () => ({ utilisation: 0, in_flight: 0 }),
      now: () => 42,
      metricsIntervalMs: 20,
      heartbeatMs: 30,
      queueLimit: 4,
    });
    try {
      const { queue, release } = hub.subscribe();
      expect(await queue.next()).toBe(toSseFrame("snapshot", { at: 42, instances: [], recent_errors: [] }));
      const seen = new Set<string>();
      await until(async () => {
        const frame = await queue.next();
        seen.add(frame?.startsWith(":") ? "heartbeat" : (frame?.split("\n")[0] ?? ""));
        if (frame?.startsWith("event: metrics")) expect(JSON.parse(frame.split("data: ")[1]!).instances.a).toMatchObject({ requests_per_s: 0 });
        return seen.has("heartbeat") && seen.has("event: metrics");
      });
      // Nobody reads: the outbox stays at its bound.
      await until(() => queue.dropped > 0, { timeoutMs: 2000 });
      expect(queue.size).toBeLessThanOrEqual(4);
      expect(hub.subscriberCount()).toBe(1);
      release();
      expect(hub.subscriberCount()).toBe(0);
      expect(await queue.next()).toBeNull();
    } finally {
      hub.stop();
    }
  });
});
