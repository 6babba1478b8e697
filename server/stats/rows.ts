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
  for (const record of records) {
    const key: RollupKey = {
      bucketSec,
      startSec: startSecOf(record, bucketSec),
      instance: record.instance ?? "",
      model: record.model,
      clientName: record.clientName ?? "",
      status: record.status,
    };
    const id = `${key.startSec}\u0000${key.instance}\u0000${key.model}\u0000${key.clientName}\u0000${key.status}`;
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { ...key, requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, latencyMsSum: 0 }));
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
  const groups = new Map<string, { row: LatencyRollupRow; latency: number[]; ttfb: number[] }>();
  const addTo = (startSec: number, dimension: LatencyDimension, value: string, record: RequestRecord) => {
    const id = `${startSec}\u0000${dimension}\u0000${value}`;
    let group = groups.get(id);
    if (!group) {
      const empty = () => new Array<number>(HISTOGRAM_SIZE).fill(0);
      groups.set(id, (group = { row: { bucketSec, startSec, dimension, value }, latency: empty(), ttfb: empty() }));
    }
    increment(group.latency, bucketIndexOf(Math.round(record.latencyMs)));
    if (record.ttfbMs !== null) increment(group.ttfb, bucketIndexOf(Math.round(record.ttfbMs)));
  };
  for (const record of records) {
    const startSec = startSecOf(record, bucketSec);
    addTo(startSec, "all", "", record);
    addTo(startSec, "instance", record.instance ?? "", record);
    addTo(startSec, "model", record.model, record);
    addTo(startSec, "key", record.clientName ?? "", record);
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
