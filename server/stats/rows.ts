// Pure mapping from settled request records to database rows: raw rows, failed attempts, and rollup increments.
import type { FailedAttemptRow, LatencyDimension, LatencyRollupRow, RequestRow, RollupRow } from "../db/schema.ts";
import type { RequestRecord } from "../proxy/request-record.ts";
import { bucketIndexOf, HISTOGRAM_SIZE } from "./histogram.ts";

/** Rollup resolutions: per minute for recent windows, per hour for long ones. */
export const ROLLUP_BUCKETS_SEC = [60, 3600] as const;
export type RollupBucketSec = (typeof ROLLUP_BUCKETS_SEC)[number];

export function toRequestRow(record: RequestRecord): RequestRow {
  return {
    startedAtMs: Math.round(record.startedAt),
    requestId: record.requestId,
    clientName: record.clientName,
    model: record.model,
    instance: record.instance,
    deployment: record.deployment,
    endpoint: record.endpoint,
    stream: record.stream,
    status: record.status,
    errorCode: record.errorCode,
    attempts: record.attempts,
    latencyMs: Math.round(record.latencyMs),
    ttfbMs: record.ttfbMs === null ? null : Math.round(record.ttfbMs),
    promptTokens: record.usage?.prompt_tokens ?? null,
    completionTokens: record.usage?.completion_tokens ?? null,
    totalTokens: record.usage?.total_tokens ?? null,
    usageSource: record.usageSource,
    upstreamRequestId: record.upstreamRequestId,
    region: record.region,
    clientAborted: record.clientAborted,
  };
}

export function toFailedAttemptRows(record: RequestRecord): FailedAttemptRow[] {
  return record.failedAttempts.map((attempt) => ({
    startedAtMs: Math.round(record.startedAt),
    requestId: record.requestId,
    instance: attempt.instance,
    model: record.model,
    status: attempt.status,
    reason: attempt.reason,
    latencyMs: Math.round(attempt.latencyMs),
  }));
}

type RollupKey = Pick<RollupRow, "bucketSec" | "startSec" | "instance" | "model" | "clientName" | "status">;
type RollupSums = Required<Pick<RollupRow, "requests" | "promptTokens" | "completionTokens" | "totalTokens" | "latencyMsSum">>;

export function startSecOf(record: RequestRecord, bucketSec: RollupBucketSec): number {
  return Math.floor(record.startedAt / 1000 / bucketSec) * bucketSec;
}

/** Sums a batch into one increment per (bucket, instance, model, client, status); '' stands for "none". */
export function toRollupRows(records: readonly RequestRecord[], bucketSec: RollupBucketSec): RollupRow[] {
  const groups = new Map<string, RollupKey & RollupSums>();
  // Traffic comes in runs of alike requests: the previous record's group is checked before building a map key.
  let last: (RollupKey & RollupSums) | undefined;
  for (const record of records) {
    const startSec = startSecOf(record, bucketSec);
    const instance = record.instance ?? "";
    const clientName = record.clientName ?? "";
    let group = last;
    if (
      !group ||
      group.startSec !== startSec ||
      group.status !== record.status ||
      group.instance !== instance ||
      group.model !== record.model ||
      group.clientName !== clientName
    ) {
      const id = `${startSec}\u0000${instance}\u0000${record.model}\u0000${clientName}\u0000${record.status}`;
      group = groups.get(id);
      if (!group) {
        group = { bucketSec, startSec, instance, model: record.model, clientName, status: record.status, requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, latencyMsSum: 0 };
        groups.set(id, group);
      }
      last = group;
    }
    group.requests += 1;
    group.promptTokens += record.usage?.prompt_tokens ?? 0;
    group.completionTokens += record.usage?.completion_tokens ?? 0;
    group.totalTokens += record.usage?.total_tokens ?? 0;
    group.latencyMsSum += Math.round(record.latencyMs);
  }
  return [...groups.values()];
}

/** Histogram increments per bucket for all requests, and per instance, model and client key separately. */
export function toLatencyRollupRows(records: readonly RequestRecord[], bucketSec: RollupBucketSec): LatencyRollupRow[] {
  type Group = { row: LatencyRollupRow; latency: number[]; ttfb: number[] };
  const groups = new Map<string, Group>();
  // Each dimension's previous group is checked first: no key string is built per record in the common case
  // of runs of alike requests.
  const last: Partial<Record<LatencyDimension, Group>> = {};
  const addTo = (startSec: number, dimension: LatencyDimension, value: string, latencyIndex: number, ttfbIndex: number | null) => {
    let group = last[dimension];
    if (!group || group.row.startSec !== startSec || group.row.value !== value) {
      const id = `${startSec}\u0000${dimension}\u0000${value}`;
      group = groups.get(id);
      if (!group) {
        const empty = () => new Array<number>(HISTOGRAM_SIZE).fill(0);
        groups.set(id, (group = { row: { bucketSec, startSec, dimension, value }, latency: empty(), ttfb: empty() }));
      }
      last[dimension] = group;
    }
    increment(group.latency, latencyIndex);
    if (ttfbIndex !== null) increment(group.ttfb, ttfbIndex);
  };
  for (const record of records) {
    const startSec = startSecOf(record, bucketSec);
    const latencyIndex = bucketIndexOf(Math.round(record.latencyMs));
    const ttfbIndex = record.ttfbMs === null ? null : bucketIndexOf(Math.round(record.ttfbMs));
    addTo(startSec, "all", "", latencyIndex, ttfbIndex);
    addTo(startSec, "instance", record.instance ?? "", latencyIndex, ttfbIndex);
    addTo(startSec, "model", record.model, latencyIndex, ttfbIndex);
    addTo(startSec, "key", record.clientName ?? "", latencyIndex, ttfbIndex);
  }
  return [...groups.values()].map(({ row, latency, ttfb }) => {
    for (let index = 0; index < HISTOGRAM_SIZE; index++) {
      row[`latency_${index}`] = latency[index] ?? 0;
      row[`ttfb_${index}`] = ttfb[index] ?? 0;
    }
    return row;
  });
}

function increment(counts: number[], index: number): void {
  counts[index] = (counts[index] ?? 0) + 1;
}
