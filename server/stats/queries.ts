// The stats API's reads: aggregate queries over the rollups, shaped by the pure functions in summaries.ts.
import { and, count, eq, gte, lt, or, sql, type SQL } from "drizzle-orm";
import type { StatsDb } from "../db/client.ts";
import { failedAttempts, latencyRollups, rollups, type LatencyDimension } from "../db/schema.ts";
import { estimatePercentile, HISTOGRAM_SIZE } from "./histogram.ts";
import type { UsageParams } from "./params.ts";
import {
  summarize,
  summarizeInstance,
  type HistogramGroup,
  type InstanceStats,
  type RollupGroup,
  type StatsSummary,
} from "./summaries.ts";
import { planSeriesWindow, planSummaryWindow, type SummaryWindow } from "./window.ts";

export type UsagePoint = { t: number; value: number | null };
export type UsageSeries = { metric: UsageParams["metric"]; window_minutes: number; bucket_seconds: number; points: UsagePoint[] };

export type StatsQueries = {
  summary(windowMinutes: number, nowMs: number): StatsSummary;
  instance(instance: string, windowMinutes: number, nowMs: number): InstanceStats;
  usage(params: UsageParams, nowMs: number): UsageSeries;
};

const histogramSums = (prefix: "latency_" | "ttfb_"): SQL[] =>
  Array.from({ length: HISTOGRAM_SIZE }, (_, index) => sql`sum(${sql.identifier(`${prefix}${index}`)})`);
const LATENCY_SUMS = histogramSums("latency_");
/** Both histograms as one JSON array: the typed select cannot name 58 pattern-named columns. */
const HISTOGRAMS_JSON = sql<string>`json_array(${sql.join([...LATENCY_SUMS, ...histogramSums("ttfb_")], sql`, `)})`;

/** Latency points report the 95th percentile of the requests started in the point's interval. */
export const LATENCY_POINT_PERCENTILE = 95;

export function createStatsQueries(db: StatsDb): StatsQueries {
  const countsIn = (window: SummaryWindow, instance?: string): RollupGroup[] => {
    const conditions = [inRanges(window, rollups)];
    if (instance !== undefined) conditions.push(eq(rollups.instance, instance));
    return db
      .select({
        instance: rollups.instance,
        model: rollups.model,
        clientName: rollups.clientName,
        status: rollups.status,
        requests: sql<number>`sum(${rollups.requests})`,
        promptTokens: sql<number>`sum(${rollups.promptTokens})`,
        completionTokens: sql<number>`sum(${rollups.completionTokens})`,
        totalTokens: sql<number>`sum(${rollups.totalTokens})`,
      })
      .from(rollups)
      .where(and(...conditions))
      .groupBy(rollups.instance, rollups.model, rollups.clientName, rollups.status)
      .all();
  };

  const histogramsIn = (window: SummaryWindow, only?: { dimension: LatencyDimension; value: string }): HistogramGroup[] => {
    const conditions = [inRanges(window, latencyRollups)];
    if (only) conditions.push(eq(latencyRollups.dimension, only.dimension), eq(latencyRollups.value, only.value));
    const rows = db
      .select({ dimension: latencyRollups.dimension, value: latencyRollups.value, histograms: HISTOGRAMS_JSON })
      .from(latencyRollups)
      .where(and(...conditions))
      .groupBy(latencyRollups.dimension, latencyRollups.value)
      .all();
    return rows.map(({ histograms, ...row }) => {
      const counts = parseCounts(histograms);
      return { ...row, latency: counts.slice(0, HISTOGRAM_SIZE), ttfb: counts.slice(HISTOGRAM_SIZE) };
    });
  };

  return {
    summary(windowMinutes, nowMs) {
      const window = planSummaryWindow(windowMinutes, nowMs);
      return summarize(countsIn(window), histogramsIn(window), windowMinutes);
    },

    instance(instance, windowMinutes, nowMs) {
      const window = planSummaryWindow(windowMinutes, nowMs);
      const failed = db
        .select({ reason: failedAttempts.reason, status: failedAttempts.status, attempts: count() })
        .from(failedAttempts)
        .where(and(eq(failedAttempts.instance, instance), gte(failedAttempts.startedAtMs, window.fromSec * 1000)))
        .groupBy(failedAttempts.reason, failedAttempts.status)
        .all();
      const [histograms] = histogramsIn(window, { dimension: "instance", value: instance });
      return summarizeInstance(instance, windowMinutes, countsIn(window, instance), histograms, failed);
    },

    usage(params, nowMs) {
      const window = planSeriesWindow(params.windowMinutes, nowMs);
      const rows = params.metric === "latency" ? latencyPoints(db, params, window) : countPoints(db, params, window);
      const byStart = new Map(rows.map((row) => [row.t, row.value]));
      const empty = params.metric === "latency" ? null : 0;
      const points = window.points.map((t) => ({ t, value: byStart.get(t) ?? empty }));
      return { metric: params.metric, window_minutes: params.windowMinutes, bucket_seconds: window.pointSec, points };
    },
  };
}

type Window = ReturnType<typeof planSeriesWindow>;

function inRanges(window: SummaryWindow, table: typeof rollups | typeof latencyRollups): SQL | undefined {
  return or(
    ...window.ranges.map((range) =>
      and(eq(table.bucketSec, range.bucketSec), gte(table.startSec, range.fromSec), lt(table.startSec, range.toSec)),
    ),
  );
}

function countPoints(db: StatsDb, params: UsageParams, window: Window): UsagePoint[] {
  const conditions = [eq(rollups.bucketSec, window.sourceBucketSec), gte(rollups.startSec, window.fromSec)];
  if (params.instance !== null) conditions.push(eq(rollups.instance, params.instance));
  if (params.model !== null) conditions.push(eq(rollups.model, params.model));
  if (params.key !== null) conditions.push(eq(rollups.clientName, params.key));
  const t = pointStart(rollups, window);
  const value =
    params.metric === "tokens"
      ? sql<number>`sum(${rollups.totalTokens})`
      : params.metric === "errors"
        ? // The same rule as isErrorStatus in summaries.ts, in SQL.
          sql<number>`sum(case when ${rollups.status} >= 400 then ${rollups.requests} else 0 end)`
        : sql<number>`sum(${rollups.requests})`;
  return db.select({ t, value }).from(rollups).where(and(...conditions)).groupBy(t).all();
}

/**
 * The start of the point a rollup falls in. Where points are as wide as the rollups they read (per-minute points up
 * to six hours, per-hour up to fifteen days), that is the rollup's own start: grouping by the bare column reads the
 * primary key in order, where grouping by an expression sorted every row first (a 6-hour series over a million
 * requests: 132 → 82 ms in SQLite's shell).
 */
function pointStart(table: typeof rollups | typeof latencyRollups, window: Window): SQL<number> {
  if (window.pointSec === window.sourceBucketSec) return sql<number>`${table.startSec}`;
  return sql<number>`(${table.startSec} / ${window.pointSec}) * ${window.pointSec}`;
}

/** Latency histograms exist per single dimension, so at most one filter applies (params.ts enforces it). */
function latencyPoints(db: StatsDb, params: UsageParams, window: Window): UsagePoint[] {
  const [dimension, value]: [LatencyDimension, string] =
    params.instance !== null ? ["instance", params.instance] : params.model !== null ? ["model", params.model] : params.key !== null ? ["key", params.key] : ["all", ""];
  const t = pointStart(latencyRollups, window);
  const rows = db
    .select({ t, counts: sql<string>`json_array(${sql.join(LATENCY_SUMS, sql`, `)})` })
    .from(latencyRollups)
    .where(
      and(
        eq(latencyRollups.bucketSec, window.sourceBucketSec),
        gte(latencyRollups.startSec, window.fromSec),
        eq(latencyRollups.dimension, dimension),
        eq(latencyRollups.value, value),
      ),
    )
    .groupBy(t)
    .all();
  return rows.map((row) => ({ t: row.t, value: estimatePercentile(parseCounts(row.counts), LATENCY_POINT_PERCENTILE) }));
}

function parseCounts(json: string): number[] {
  const parsed: unknown = JSON.parse(json);
  return Array.isArray(parsed) ? parsed.map((value) => (typeof value === "number" ? value : 0)) : [];
}
