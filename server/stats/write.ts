// Writes one batch of settled requests in a single transaction: raw rows, failed attempts, rollup increments.
import type { Database, Statement } from "bun:sqlite";
import { getTableColumns, getTableName, type Column } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import type { StatsDatabase } from "../db/client.ts";
import { failedAttempts, latencyRollups, requests, rollups } from "../db/schema.ts";
import type { RequestRecord } from "../proxy/request-record.ts";
import { ROLLUP_BUCKETS_SEC, toFailedAttemptRows, toLatencyRollupRows, toRequestRow, toRollupRows } from "./rows.ts";

export type BatchWriter = (records: readonly RequestRecord[]) => void;

/**
 * Statements are prepared once from the Drizzle schema and run per row on bun:sqlite directly: Drizzle's
 * query builder costs about ten times more per row, and this runs on the event loop every second.
 */
export function createBatchWriter(database: StatsDatabase): BatchWriter {
  const { client } = database;
  const insertRequest = prepareInsert(client, requests);
  const insertAttempt = prepareInsert(client, failedAttempts);
  const addRollup = prepareInsert(client, rollups, {
    key: [rollups.bucketSec, rollups.startSec, rollups.instance, rollups.model, rollups.clientName, rollups.status],
  });
  const addLatencies = prepareInsert(client, latencyRollups, {
    key: [latencyRollups.bucketSec, latencyRollups.startSec, latencyRollups.dimension, latencyRollups.value],
  });
  const write = client.transaction((records: readonly RequestRecord[]) => {
    for (const record of records) {
      insertRequest(toRequestRow(record));
      for (const attempt of toFailedAttemptRows(record)) insertAttempt(attempt);
    }
    for (const bucketSec of ROLLUP_BUCKETS_SEC) {
      for (const row of toRollupRows(records, bucketSec)) addRollup(row);
      for (const row of toLatencyRollupRows(records, bucketSec)) addLatencies(row);
    }
  });
  return (records) => {
    if (records.length > 0) write(records);
  };
}

type Row = Record<string, unknown>;

/**
 * `INSERT … VALUES (?, …)` over every column but an autoincrement id; with `key`, a conflict on it
 * adds the incoming values to the stored ones (how rollup increments accumulate).
 */
function prepareInsert(client: Database, table: SQLiteTable, options: { key?: Column[] } = {}): (row: Row) => void {
  const columns = Object.entries(getTableColumns(table)).filter(([, column]) => !(column.primary && column.columnType === "SQLiteInteger"));
  const names = columns.map(([, column]) => `"${column.name}"`);
  let text = `INSERT INTO "${getTableName(table)}" (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`;
  if (options.key) {
    const keyNames = new Set(options.key.map((column) => column.name));
    const increments = columns
      .filter(([, column]) => !keyNames.has(column.name))
      .map(([, column]) => `"${column.name}" = "${column.name}" + excluded."${column.name}"`);
    text += ` ON CONFLICT (${options.key.map((column) => `"${column.name}"`).join(", ")}) DO UPDATE SET ${increments.join(", ")}`;
  }
  const statement: Statement = client.prepare(text);
  const keys = columns.map(([key]) => key);
  const fallbacks = columns.map(([, column]): unknown => column.default ?? null);
  // Only boolean-mode columns change on the way to SQLite; mapping the rest would cost a call per value.
  const mappers = columns.map(([, column]) => (column.columnType === "SQLiteBoolean" ? (value: unknown) => column.mapToDriverValue(value) : null));
  const values: unknown[] = new Array(columns.length);
  return (row) => {
    for (let index = 0; index < keys.length; index++) {
      const value = row[keys[index] ?? ""];
      const mapper = mappers[index];
      values[index] = value === undefined || value === null ? fallbacks[index] : mapper ? mapper(value) : value;
    }
    statement.run(...(values as SQLiteBinding[]));
  };
}

type SQLiteBinding = string | number | bigint | boolean | null | Uint8Array;
