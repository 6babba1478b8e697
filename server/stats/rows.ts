// Pure mapping from settled request records to database rows: raw rows (as flat column values), failed attempts, and rollup increments.
import type { FailedAttemptRow, LatencyDimension, LatencyRollupRow, RequestRow, RollupRow } from "../db/schema.ts";
import type { RequestRecord } from "../proxy/request-record.ts";
import { bucketIndexOf, HISTOGRAM_SIZE } from "./histogram.ts";

/** Rollup resolutions: per minute for recent windows, per hour for long ones. */
export const ROLLUP_BUCKETS_SEC = [60, 3600] as const;
export type RollupBucketSec = (typeof ROLLUP_BUCKETS_SEC)[number];

/** A request's row as column values, in this order (the writer inserts the requests table's columns in it). */
export const REQUEST_ROW_KEYS = [
  "startedAtMs",
  "requestId",
  "clientName",
  "model",
  "instance",
  "deployment",
  "endpoint",
  "stream",
  "status",
  "errorCode",
  "attempts",
  "latencyMs",
  "ttfbMs",
  "promptTokens",
  "completionTokens",
  "totalTokens",
  "usageSource",
  "upstreamRequestId",
  "region",
  "clientAborted",
] as const satisfies ReadonlyArray<keyof RequestRow>;
export const REQUEST_ROW_WIDTH = REQUEST_ROW_KEYS.length;

/**
 * Requests waiting for the writer, as one flat list of column values (REQUEST_ROW_WIDTH per request, SQLite's
 * values: 1/0 for booleans, null for none). A queued request then keeps no object of its own alive for the up to a
 * second it waits; holding the records themselves cost about 2.6 µs of collector work per request on the bench machine.
 */
export type RequestRows = { readonly values: readonly unknown[]; readonly count: number };

/** Appends the record's row to `values`; the one mapping from a settled request to its stored columns. */
export function appendRequestRow(values: unknown[], record: RequestRecord): void {
  const { usage } = record;
  values.push(
    Math.round(record.startedAt),
    record.requestId,
    record.clientName,
    record.model,
    record.instance,
    record.deployment,
    record.endpoint,
    record.stream ? 1 : 0,
    record.status,
    record.errorCode,
    record.attempts,
    Math.round(record.latencyMs),
    record.ttfbMs === null ? null : Math.round(record.ttfbMs),
    usage === null ? null : usage.prompt_tokens,
    usage === null ? null : usage.completion_tokens,
    usage === null ? null : usage.total_tokens,
    record.usageSource,
    record.upstreamRequestId,
    record.region,
    record.clientAborted ? 1 : 0,
  );
}

export function requestRowsOf(records: readonly RequestRecord[]): RequestRows {
  const values: unknown[] = [];
  for (const record of records) appendRequestRow(values, record);
  return { values, count: records.length };
}

/** The `index`th request's columns by name (for reading a batch back; the writer binds the values in order). */
export function readRequestRow(rows: RequestRows, index: number): Record<(typeof REQUEST_ROW_KEYS)[number], unknown> {
  const base = index * REQUEST_ROW_WIDTH;
  return Object.fromEntries(REQUEST_ROW_KEYS.map((key, offset) => [key, rows.values[base + offset]])) as Record<(typeof REQUEST_ROW_KEYS)[number], unknown>;
}

const STARTED_AT = REQUEST_ROW_KEYS.indexOf("startedAtMs");
const CLIENT_NAME = REQUEST_ROW_KEYS.indexOf("clientName");
const MODEL = REQUEST_ROW_KEYS.indexOf("model");
const INSTANCE = REQUEST_ROW_KEYS.indexOf("instance");
const STATUS = REQUEST_ROW_KEYS.indexOf("status");
const LATENCY = REQUEST_ROW_KEYS.indexOf("latencyMs");
const TTFB = REQUEST_ROW_KEYS.indexOf("ttfbMs");
const PROMPT_TOKENS = REQUEST_ROW_KEYS.indexOf("promptTokens");
const COMPLETION_TOKENS = REQUEST_ROW_KEYS.indexOf("completionTokens");
const TOTAL_TOKENS = REQUEST_ROW_KEYS.indexOf("totalTokens");

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

function startSecOf(startedAtMs: number, bucketSec: RollupBucketSec): number {
  return Math.floor(startedAtMs / 1000 / bucketSec) * bucketSec;
}

/** Sums a batch into one increment per (bucket, instance, model, client, status); '' stands for "none". */
export function toRollupRows(rows: RequestRows, bucketSec: RollupBucketSec): RollupRow[] {
  const { values } = rows;
  const groups = new Map<string, RollupKey & RollupSums>();
  // Traffic comes in runs of alike requests: the previous request's group is checked before building a map key.
  let last: (RollupKey & RollupSums) | undefined;
  for (let base = 0; base < rows.count * REQUEST_ROW_WIDTH; base += REQUEST_ROW_WIDTH) {
    const startSec = startSecOf(values[base + STARTED_AT] as number, bucketSec);
    const instance = (values[base + INSTANCE] as string | null) ?? "";
    const model = values[base + MODEL] as string;
    const clientName = (values[base + CLIENT_NAME] as string | null) ?? "";
    const status = values[base + STATUS] as number;
    let group = last;
    if (
      !group ||
      group.startSec !== startSec ||
      group.status !== status ||
      group.instance !== instance ||
      group.model !== model ||
      group.clientName !== clientName
    ) {
      const id = `${startSec}\u0000${instance}\u0000${model}\u0000${clientName}\u0000${status}`;
      group = groups.get(id);
      if (!group) {
        group = { bucketSec, startSec, instance, model, clientName, status, requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, latencyMsSum: 0 };
        groups.set(id, group);
      }
      last = group;
    }
    group.requests += 1;
    group.promptTokens += (values[base + PROMPT_TOKENS] as number | null) ?? 0;
    group.completionTokens += (values[base + COMPLETION_TOKENS] as number | null) ?? 0;
    group.totalTokens += (values[base + TOTAL_TOKENS] as number | null) ?? 0;
    group.latencyMsSum += values[base + LATENCY] as number;
  }
  return [...groups.values()];
}

/** Histogram increments per bucket for all requests, and per instance, model and client key separately. */
export function toLatencyRollupRows(rows: RequestRows, bucketSec: RollupBucketSec): LatencyRollupRow[] {
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
  const { values } = rows;
  for (let base = 0; base < rows.count * REQUEST_ROW_WIDTH; base += REQUEST_ROW_WIDTH) {
    const startSec = startSecOf(values[base + STARTED_AT] as number, bucketSec);
    const latencyIndex = bucketIndexOf(values[base + LATENCY] as number);
    const ttfb = values[base + TTFB] as number | null;
    const ttfbIndex = ttfb === null ? null : bucketIndexOf(ttfb);
    addTo(startSec, "all", "", latencyIndex, ttfbIndex);
    addTo(startSec, "instance", (values[base + INSTANCE] as string | null) ?? "", latencyIndex, ttfbIndex);
    addTo(startSec, "model", values[base + MODEL] as string, latencyIndex, ttfbIndex);
    addTo(startSec, "key", (values[base + CLIENT_NAME] as string | null) ?? "", latencyIndex, ttfbIndex);
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
