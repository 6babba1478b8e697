// Pure shaping of rollup groups into the stats API's JSON: totals, breakdowns, percentiles.
import type { LatencyDimension } from "../db/schema.ts";
import { percentilesOf, type Percentiles } from "./histogram.ts";

/** One group of rollups summed over a window (SQL's answer). '' stands for "none" in instance and client. */
export type RollupGroup = {
  instance: string;
  model: string;
  clientName: string;
  status: number;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
};

/** Histograms summed over a window for one dimension value ("all" has the value ''). */
export type HistogramGroup = { dimension: LatencyDimension; value: string; latency: number[]; ttfb: number[] };

export type Tokens = { prompt: number; completion: number; total: number };

export type Breakdown = { requests: number; errors: number; tokens: Tokens; latency_ms: Percentiles };

export type StatsSummary = Breakdown & {
  window_minutes: number;
  by_model: Record<string, Breakdown>;
  by_instance: Record<string, Breakdown>;
  by_key: Record<string, Breakdown>;
};

/** How requests with no instance (rejected before any upstream) or no client key (auth off) are listed. */
export const NONE_LABEL = "(none)";

/** A request counts as an error when the client got 400 or above (499: the client went away). */
export function isErrorStatus(status: number): boolean {
  return status >= 400;
}

type Counts = { requests: number; errors: number; tokens: Tokens };

function emptyCounts(): Counts {
  return { requests: 0, errors: 0, tokens: { prompt: 0, completion: 0, total: 0 } };
}

function add(into: Counts, group: RollupGroup): void {
  into.requests += group.requests;
  if (isErrorStatus(group.status)) into.errors += group.requests;
  into.tokens.prompt += group.promptTokens;
  into.tokens.completion += group.completionTokens;
  into.tokens.total += group.totalTokens;
}

/** Looks up a dimension value's histograms; '' (none) is listed under NONE_LABEL. */
function histogramsOf(histograms: readonly HistogramGroup[]) {
  const byKey = new Map(histograms.map((group) => [`${group.dimension}\u0000${group.value}`, group]));
  return (dimension: LatencyDimension, value: string) => byKey.get(`${dimension}\u0000${value}`);
}

function breakdown(
  groups: readonly RollupGroup[],
  valueOf: (group: RollupGroup) => string,
  dimension: LatencyDimension,
  histogramOf: ReturnType<typeof histogramsOf>,
): Record<string, Breakdown> {
  const counts = new Map<string, Counts>();
  for (const group of groups) {
    const value = valueOf(group);
    let into = counts.get(value);
    if (!into) counts.set(value, (into = emptyCounts()));
    add(into, group);
  }
  const sorted = [...counts.entries()].sort(([a], [b]) => a.localeCompare(b));
  return Object.fromEntries(
    sorted.map(([value, into]) => [value || NONE_LABEL, { ...into, latency_ms: percentilesOf(histogramOf(dimension, value)?.latency ?? []) }]),
  );
}

export function summarize(groups: readonly RollupGroup[], histograms: readonly HistogramGroup[], windowMinutes: number): StatsSummary {
  const histogramOf = histogramsOf(histograms);
  const total = emptyCounts();
  for (const group of groups) add(total, group);
  return {
    window_minutes: windowMinutes,
    ...total,
    latency_ms: percentilesOf(histogramOf("all", "")?.latency ?? []),
    by_model: breakdown(groups, (group) => group.model, "model", histogramOf),
    by_instance: breakdown(groups, (group) => group.instance, "instance", histogramOf),
    by_key: breakdown(groups, (group) => group.clientName, "key", histogramOf),
  };
}

export type FailedAttemptGroup = { reason: string; status: number | null; attempts: number };

export type InstanceStats = {
  instance: string;
  window_minutes: number;
  requests: number;
  errors: number;
  errors_by_status: Record<string, number>;
  tokens: Tokens;
  latency_ms: Percentiles;
  ttfb_ms: Percentiles;
  failed_attempts: { total: number; by_reason: Record<string, number>; by_status: Record<string, number> };
};

/** `groups` are one instance's rollups; failed attempts are those on that instance, answered elsewhere or not at all. */
export function summarizeInstance(
  instance: string,
  windowMinutes: number,
  groups: readonly RollupGroup[],
  histograms: HistogramGroup | undefined,
  failed: readonly FailedAttemptGroup[],
): InstanceStats {
  const total = emptyCounts();
  const errorsByStatus: Record<string, number> = {};
  for (const group of groups) {
    add(total, group);
    if (isErrorStatus(group.status)) errorsByStatus[group.status] = (errorsByStatus[group.status] ?? 0) + group.requests;
  }
  const byReason: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  let failedTotal = 0;
  for (const group of failed) {
    failedTotal += group.attempts;
    byReason[group.reason] = (byReason[group.reason] ?? 0) + group.attempts;
    const status = group.status === null ? NONE_LABEL : String(group.status);
    byStatus[status] = (byStatus[status] ?? 0) + group.attempts;
  }
  return {
    instance,
    window_minutes: windowMinutes,
    requests: total.requests,
    errors: total.errors,
    errors_by_status: errorsByStatus,
    tokens: total.tokens,
    latency_ms: percentilesOf(histograms?.latency ?? []),
    ttfb_ms: percentilesOf(histograms?.ttfb ?? []),
    failed_attempts: { total: failedTotal, by_reason: byReason, by_status: byStatus },
  };
}
