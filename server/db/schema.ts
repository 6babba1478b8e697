// The statistics database: one row per client request, its failed attempts, and per-minute/per-hour rollups.
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { HISTOGRAM_SIZE } from "../stats/histogram.ts";

export const USAGE_SOURCES = ["upstream", "counted", "estimated"] as const;
export const ATTEMPT_REASONS = ["throttled", "server_error", "instance_error", "timeout", "connection_error"] as const;

/** One row per client request, written when it settled. Tokens are null when nothing was measured. */
export const requests = sqliteTable(
  "requests",
  {
    id: integer().primaryKey({ autoIncrement: true }),
    startedAtMs: integer("started_at_ms").notNull(),
    requestId: text("request_id").notNull(),
    clientName: text("client_name"),
    model: text().notNull(),
    instance: text(),
    deployment: text(),
    endpoint: text().notNull(),
    stream: integer({ mode: "boolean" }).notNull(),
    status: integer().notNull(),
    errorCode: text("error_code"),
    attempts: integer().notNull(),
    latencyMs: integer("latency_ms").notNull(),
    ttfbMs: integer("ttfb_ms"),
    promptTokens: integer("prompt_tokens"),
    completionTokens: integer("completion_tokens"),
    totalTokens: integer("total_tokens"),
    usageSource: text("usage_source", { enum: USAGE_SOURCES }),
    upstreamRequestId: text("upstream_request_id"),
    region: text(),
    clientAborted: integer("client_aborted", { mode: "boolean" }).notNull(),
  },
  // No index on started_at_ms: nothing queries raw rows by time, and retention deletes them oldest id first
  // (see stats/retention.ts). The index cost each insert about a third of its time.
);

/** Attempts that failed on an instance before another answered (or before the request gave up). Never tokens. */
export const failedAttempts = sqliteTable(
  "failed_attempts",
  {
    id: integer().primaryKey({ autoIncrement: true }),
    startedAtMs: integer("started_at_ms").notNull(),
    requestId: text("request_id").notNull(),
    instance: text().notNull(),
    model: text().notNull(),
    status: integer(),
    reason: text({ enum: ATTEMPT_REASONS }).notNull(),
    latencyMs: integer("latency_ms").notNull(),
  },
  (table) => [
    index("failed_attempts_instance_idx").on(table.instance, table.startedAtMs),
    index("failed_attempts_started_at_idx").on(table.startedAtMs),
  ],
);

const counter = (name?: string) => (name === undefined ? integer() : integer(name)).notNull().default(0);

type HistogramColumns<P extends string> = { [K in `${P}${number}`]: ReturnType<typeof counter> };

/** One count column per latency bucket: summing columns merges histograms inside SQLite. */
function histogramColumns<P extends string>(prefix: P): HistogramColumns<P> {
  const entries = Array.from({ length: HISTOGRAM_SIZE }, (_, index) => [`${prefix}${index}`, counter()] as const);
  return Object.fromEntries(entries) as HistogramColumns<P>;
}

/**
 * Requests summed per time bucket (60 s or 3600 s) and dimension. Dimensions are never null ('' stands
 * for "none") because SQLite treats nulls as distinct in a primary key, which would defeat the upsert.
 */
export const rollups = sqliteTable(
  "rollups",
  {
    bucketSec: integer("bucket_sec").notNull(),
    startSec: integer("start_sec").notNull(),
    instance: text().notNull(),
    model: text().notNull(),
    clientName: text("client_name").notNull(),
    status: integer().notNull(),
    requests: counter(),
    promptTokens: counter("prompt_tokens"),
    completionTokens: counter("completion_tokens"),
    totalTokens: counter("total_tokens"),
    latencyMsSum: counter("latency_ms_sum"),
  },
  (table) => [
    primaryKey({ columns: [table.bucketSec, table.startSec, table.instance, table.model, table.clientName, table.status] }),
  ],
);

export const LATENCY_DIMENSIONS = ["all", "instance", "model", "key"] as const;
export type LatencyDimension = (typeof LATENCY_DIMENSIONS)[number];

/**
 * Latency and time-to-first-byte histograms per time bucket, one dimension at a time (all requests, per
 * instance, per model, per client key): crossing them all, with 58 count columns each, made long windows slow.
 */
export const latencyRollups = sqliteTable(
  "latency_rollups",
  {
    bucketSec: integer("bucket_sec").notNull(),
    startSec: integer("start_sec").notNull(),
    dimension: text({ enum: LATENCY_DIMENSIONS }).notNull(),
    value: text().notNull(),
    ...histogramColumns("latency_"),
    ...histogramColumns("ttfb_"),
  },
  (table) => [primaryKey({ columns: [table.bucketSec, table.startSec, table.dimension, table.value] })],
);

export type RequestRow = typeof requests.$inferInsert;
export type FailedAttemptRow = typeof failedAttempts.$inferInsert;
export type RollupRow = typeof rollups.$inferInsert;
/** Drizzle's inferred types drop the pattern-named histogram columns, so they are restated here. */
export type HistogramCounts = Record<`latency_${number}` | `ttfb_${number}`, number>;
export type LatencyRollupRow = typeof latencyRollups.$inferInsert & HistogramCounts;

/** Runtime overrides of instance settings (PUT /admin/instances/{name}/config): survive a restart, win over the YAML. */
export const instanceOverrides = sqliteTable("instance_overrides", {
  instance: text().primaryKey(),
  /** JSON of the overridden fields only, e.g. {"enabled":false}. */
  settings: text().notNull(),
  updatedAtMs: integer("updated_at_ms").notNull(),
});
