// Stats aggregation as pure functions: histogram buckets and percentiles, rollup rows, windows, summaries, query parameters.
import { describe, expect, it } from "bun:test";
import { ProxyError } from "../../server/errors.ts";
import type { RequestRecord } from "../../server/proxy/request-record.ts";
import { bucketIndexOf, estimatePercentile, HISTOGRAM_SIZE, LATENCY_BOUNDS_MS } from "../../server/stats/histogram.ts";
import { readInstanceParam, readUsageParams, readWindowMinutes } from "../../server/stats/params.ts";
import { retentionCutoffs } from "../../server/stats/retention.ts";
import { RequestQueue } from "../../server/stats/request-queue.ts";
import { readRequestRow, requestRowsOf, toFailedAttemptRows, toLatencyRollupRows, toRollupRows } from "../../server/stats/rows.ts";
import { summarize, summarizeInstance, type HistogramGroup } from "../../server/stats/summaries.ts";
import { planSeriesWindow, planSummaryWindow } from "../../server/stats/window.ts";

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

function record(overrides: Partial<RequestRecord> = {}): RequestRecord {
  return {
    requestId: "r1",
    startedAt: T0,
    clientName: "team-a",
    model: "gpt-4o",
    endpoint: "/chat/completions",
    stream: false,
    status: 200,
    errorCode: null,
    instance: "east",
    deployment: "gpt-4o",
    attempts: 1,
    failedAttempts: [],
    latencyMs: 120,
    ttfbMs: 40,
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    usageSource: "upstream",
    upstreamRequestId: "up-1",
    region: "East US",
    clientAborted: false,
    ...overrides,
  };
}

function histogramWith(entries: Record<number, number>): number[] {
  const counts = new Array<number>(HISTOGRAM_SIZE).fill(0);
  for (const [index, count] of Object.entries(entries)) counts[Number(index)] = count;
  return counts;
}

describe("latency histogram", () => {
  it("puts a value on a bound into that bound's bucket and anything past the last bound into the overflow", () => {
    expect(bucketIndexOf(0)).toBe(0);
    expect(bucketIndexOf(5)).toBe(0);
    expect(bucketIndexOf(6)).toBe(1);
    expect(bucketIndexOf(1000)).toBe(LATENCY_BOUNDS_MS.indexOf(1000));
    expect(bucketIndexOf(10_000_000)).toBe(HISTOGRAM_SIZE - 1);
  });

  it("interpolates a percentile inside its bucket and reports null without observations", () => {
    const at100 = LATENCY_BOUNDS_MS.indexOf(100);
    // 100 observations in (75, 100]: the median sits halfway.
    expect(estimatePercentile(histogramWith({ [at100]: 100 }), 50)).toBe(88);
    expect(estimatePercentile(histogramWith({ [at100]: 100 }), 99)).toBe(100);
    expect(estimatePercentile(histogramWith({ 0: 90, [at100]: 10 }), 50)).toBe(3);
    expect(estimatePercentile(histogramWith({ 0: 90, [at100]: 10 }), 95)).toBe(88);
    expect(estimatePercentile(histogramWith({}), 50)).toBeNull();
    expect(estimatePercentile(histogramWith({ [HISTOGRAM_SIZE - 1]: 3 }), 50)).toBe(LATENCY_BOUNDS_MS.at(-1)!);
  });
});

describe("rows from records", () => {
  it("keeps the key's name, never tokens on failed attempts, and the serving instance on the request", () => {
    const failedOver = record({
      instance: "west",
      attempts: 2,
      failedAttempts: [{ instance: "east", status: 429, reason: "throttled", latencyMs: 12.6 }],
    });
    expect(readRequestRow(requestRowsOf([failedOver]), 0)).toMatchObject({ instance: "west", clientName: "team-a", attempts: 2, totalTokens: 15 });
    expect(toFailedAttemptRows(failedOver)).toEqual([
      { startedAtMs: T0, requestId: "r1", instance: "east", model: "gpt-4o", status: 429, reason: "throttled", latencyMs: 13 },
    ]);
  });

  it("sums a batch per minute and dimension, with '' for no instance or key", () => {
    const rows = toRollupRows(
      requestRowsOf([
        record(),
        record({ startedAt: T0 + 59_000, latencyMs: 80 }),
        record({ startedAt: T0 + 60_000 }),
        record({ instance: null, clientName: null, status: 401, usage: null, latencyMs: 1 }),
      ]),
      60,
    );
    expect(rows).toEqual([
      { bucketSec: 60, startSec: T0 / 1000, instance: "east", model: "gpt-4o", clientName: "team-a", status: 200, requests: 2, promptTokens: 20, completionTokens: 10, totalTokens: 30, latencyMsSum: 200 },
      { bucketSec: 60, startSec: T0 / 1000 + 60, instance: "east", model: "gpt-4o", clientName: "team-a", status: 200, requests: 1, promptTokens: 10, completionTokens: 5, totalTokens: 15, latencyMsSum: 120 },
      { bucketSec: 60, startSec: T0 / 1000, instance: "", model: "gpt-4o", clientName: "", status: 401, requests: 1, promptTokens: 0, completionTokens: 0, totalTokens: 0, latencyMsSum: 1 },
    ]);
    expect(toRollupRows(requestRowsOf([record(), record({ startedAt: T0 + 60_000 })]), 3600)).toHaveLength(1);
  });

  it("groups interleaved requests as it groups runs of alike ones", () => {
    const a = () => record();
    const b = () => record({ instance: "west", clientName: "team-b", status: 429, latencyMs: 7 });
    const interleaved = requestRowsOf([a(), b(), a(), b(), a()]);
    const sorted = requestRowsOf([a(), a(), a(), b(), b()]);
    const byKey = (rows: ReturnType<typeof toRollupRows>) => [...rows].sort((x, y) => x.instance.localeCompare(y.instance));
    expect(byKey(toRollupRows(interleaved, 60))).toEqual(byKey(toRollupRows(sorted, 60)));
    expect(toRollupRows(interleaved, 60).map((row) => row.requests).sort()).toEqual([2, 3]);
    const latency = (rows: ReturnType<typeof requestRowsOf>) =>
      toLatencyRollupRows(rows, 60).sort((x, y) => `${x.dimension}${x.value}`.localeCompare(`${y.dimension}${y.value}`));
    expect(latency(interleaved)).toEqual(latency(sorted));
    expect(latency(interleaved).find((row) => row.dimension === "key" && row.value === "team-b")?.[`latency_${bucketIndexOf(7)}`]).toBe(2);
  });

  it("counts latency per dimension and time to first byte only where there was one", () => {
    const rows = toLatencyRollupRows(requestRowsOf([record(), record({ ttfbMs: null, clientName: "team-b" })]), 60);
    expect(rows.map((row) => [row.dimension, row.value])).toEqual([
      ["all", ""],
      ["instance", "east"],
      ["model", "gpt-4o"],
      ["key", "team-a"],
      ["key", "team-b"],
    ]);
    const all = rows[0]!;
    expect(all[`latency_${bucketIndexOf(120)}`]).toBe(2);
    expect(all[`ttfb_${bucketIndexOf(40)}`]).toBe(1);
  });
});

describe("request queue", () => {
  it("stores each request as SQLite's column values, rounded, with 1/0 for booleans and null for none", () => {
    const rows = requestRowsOf([record({ startedAt: T0 + 0.6, latencyMs: 12.5, ttfbMs: null, stream: true, usage: null, clientAborted: true })]);
    expect(readRequestRow(rows, 0)).toEqual({
      startedAtMs: T0 + 1,
      requestId: "r1",
      clientName: "team-a",
      model: "gpt-4o",
      instance: "east",
      deployment: "gpt-4o",
      endpoint: "/chat/completions",
      stream: 1,
      status: 200,
      errorCode: null,
      attempts: 1,
      latencyMs: 13,
      ttfbMs: null,
      promptTokens: null,
      completionTokens: null,
      totalTokens: null,
      usageSource: "upstream",
      upstreamRequestId: "up-1",
      region: "East US",
      clientAborted: 1,
    });
  });

  it("hands out the oldest requests with their own failed attempts, and keeps the rest until they are dropped", () => {
    const queue = new RequestQueue();
    const failure = (instance: string) => ({ instance, status: 500, reason: "server_error" as const, latencyMs: 3 });
    queue.push(record({ requestId: "a", failedAttempts: [failure("east")] }));
    queue.push(record({ requestId: "b" }));
    queue.push(record({ requestId: "c", failedAttempts: [failure("west"), failure("north")] }));
    const first = queue.peek(2);
    expect(first.count).toBe(2);
    expect([0, 1].map((index) => readRequestRow(first, index).requestId)).toEqual(["a", "b"]);
    expect(first.failedAttempts.map((row) => [row.requestId, row.instance])).toEqual([["a", "east"]]);
    // Not written yet: peeking again gives the same requests.
    expect(readRequestRow(queue.peek(2), 0).requestId).toBe("a");
    queue.drop(2);
    expect(queue.length).toBe(1);
    const rest = queue.peek(10);
    expect(rest.count).toBe(1);
    expect(readRequestRow(rest, 0).requestId).toBe("c");
    expect(rest.failedAttempts.map((row) => row.instance)).toEqual(["west", "north"]);
    queue.drop(1);
    expect(queue.peek(10)).toEqual({ values: [], count: 0, failedAttempts: [] });
    // A batch handed out before clear keeps its values.
    queue.push(record({ requestId: "d" }));
    const held = queue.peek(10);
    queue.clear();
    expect(readRequestRow(held, 0).requestId).toBe("d");
    expect(queue.length).toBe(0);
  });
});

describe("windows", () => {
  const now = Date.UTC(2025, 0, 1, 12, 34, 56);
  const minute = (h: number, m: number) => Date.UTC(2025, 0, 1, h, m) / 1000;

  it("reads a short window from per-minute rollups, the current minute included", () => {
    expect(planSummaryWindow(60, now)).toEqual({ fromSec: minute(11, 35), ranges: [{ bucketSec: 60, fromSec: minute(11, 35), toSec: minute(12, 35) }] });
  });

  it("reads whole hours inside a longer window from per-hour rollups and the ends per minute", () => {
    expect(planSummaryWindow(360, now).ranges).toEqual([
      { bucketSec: 60, fromSec: minute(6, 35), toSec: minute(7, 0) },
      { bucketSec: 3600, fromSec: minute(7, 0), toSec: minute(12, 0) },
      { bucketSec: 60, fromSec: minute(12, 0), toSec: minute(12, 35) },
    ]);
  });

  it("starts windows longer than a day on the hour", () => {
    expect(planSummaryWindow(2 * 1440, now).ranges[0]).toEqual({ bucketSec: 3600, fromSec: minute(12, 0) - 2 * 86_400, toSec: minute(12, 0) });
  });

  it("buckets a series per minute up to six hours and per hour beyond", () => {
    const hour = planSeriesWindow(60, now);
    expect(hour).toMatchObject({ sourceBucketSec: 60, pointSec: 60, fromSec: minute(11, 35) });
    expect(hour.points).toHaveLength(60);
    expect(hour.points.at(-1)).toBe(minute(12, 34));
    const day = planSeriesWindow(1440, now);
    expect(day).toMatchObject({ sourceBucketSec: 3600, pointSec: 3600 });
    expect(day.points).toHaveLength(24);
    expect(planSeriesWindow(43_200, now)).toMatchObject({ pointSec: 21_600, points: expect.any(Array) });
  });

  it("keeps raw rows and minute rollups for the raw retention, hour rollups for theirs", () => {
    expect(retentionCutoffs(T0, { rawDays: 7, rollupDays: 90 })).toEqual({
      rawBeforeMs: T0 - 7 * 86_400_000,
      minuteRollupsBeforeSec: (T0 - 7 * 86_400_000) / 1000,
      hourRollupsBeforeSec: (T0 - 90 * 86_400_000) / 1000,
    });
  });
});

describe("summaries", () => {
  const group = { instance: "east", model: "gpt-4o", clientName: "team-a", status: 200, requests: 3, promptTokens: 30, completionTokens: 15, totalTokens: 45 };
  const at100 = LATENCY_BOUNDS_MS.indexOf(100);
  const histograms: HistogramGroup[] = [
    { dimension: "all", value: "", latency: histogramWith({ [at100]: 4 }), ttfb: histogramWith({}) },
    { dimension: "instance", value: "east", latency: histogramWith({ [at100]: 3 }), ttfb: histogramWith({ 0: 3 }) },
  ];

  it("totals requests, errors and tokens, and lists requests without an instance or key as (none)", () => {
    const summary = summarize([group, { ...group, instance: "", clientName: "", status: 404, requests: 1, promptTokens: 0, completionTokens: 0, totalTokens: 0 }], histograms, 60);
    expect(summary).toMatchObject({ window_minutes: 60, requests: 4, errors: 1, tokens: { prompt: 30, completion: 15, total: 45 } });
    expect(Object.keys(summary.by_instance)).toEqual(["(none)", "east"]);
    expect(summary.by_instance.east).toEqual({ requests: 3, errors: 0, tokens: { prompt: 30, completion: 15, total: 45 }, latency_ms: { p50: 88, p95: 99, p99: 100 } });
    expect(summary.by_key["(none)"]).toMatchObject({ requests: 1, errors: 1, latency_ms: { p50: null, p95: null, p99: null } });
  });

  it("breaks one instance's errors down by status and its failed attempts by reason", () => {
    const stats = summarizeInstance("east", 60, [group, { ...group, status: 502, requests: 2 }], histograms[1], [
      { reason: "throttled", status: 429, attempts: 4 },
      { reason: "timeout", status: null, attempts: 1 },
    ]);
    expect(stats).toMatchObject({
      requests: 5,
      errors: 2,
      errors_by_status: { "502": 2 },
      ttfb_ms: { p50: 3 },
      failed_attempts: { total: 5, by_reason: { throttled: 4, timeout: 1 }, by_status: { "429": 4, "(none)": 1 } },
    });
  });
});

describe("query parameters", () => {
  const query = (text: string) => new URLSearchParams(text);
  const rejection = (read: () => unknown) => {
    try {
      read();
    } catch (error) {
      if (error instanceof ProxyError) return { status: error.status, ...error.toJSON().error };
      throw error;
    }
    throw new Error("expected a rejection");
  };

  it("defaults the window to 60 minutes and accepts 1 to 43200", () => {
    expect(readWindowMinutes(query(""))).toBe(60);
    expect(readWindowMinutes(query("window=1"))).toBe(1);
    expect(readWindowMinutes(query("window=43200"))).toBe(43_200);
  });

  it.each(["abc", "0", "-5", "1.5", "43201", "1e3", " 60"])("rejects window=%p naming the parameter", (value) => {
    expect(rejection(() => readWindowMinutes(query(`window=${encodeURIComponent(value)}`)))).toEqual({
      status: 400,
      message: "window must be a whole number of minutes from 1 to 43200.",
      type: "invalid_request_error",
      param: "window",
      code: "invalid_request",
    });
  });

  it("requires a known metric, and at most one filter for latency", () => {
    expect(rejection(() => readUsageParams(query("")))).toMatchObject({ status: 400, param: "metric", code: "missing_required_parameter" });
    expect(rejection(() => readUsageParams(query("metric=cost")))).toMatchObject({ status: 400, param: "metric", code: "invalid_request" });
    expect(rejection(() => readUsageParams(query("metric=latency&instance=a&key=b")))).toMatchObject({ status: 400, param: "key" });
    expect(readUsageParams(query("metric=tokens&window=5&instance=&model=gpt-4o"))).toEqual({
      metric: "tokens",
      windowMinutes: 5,
      instance: null,
      model: "gpt-4o",
      key: null,
    });
  });

  it("requires a configured instance", () => {
    const known = new Set(["east"]);
    expect(readInstanceParam(query("instance=east"), known)).toBe("east");
    expect(rejection(() => readInstanceParam(query(""), known))).toMatchObject({ status: 400, param: "instance", code: "missing_required_parameter" });
    expect(rejection(() => readInstanceParam(query("instance=west"), known))).toMatchObject({ status: 404, param: "instance", code: "instance_not_found" });
  });
});
