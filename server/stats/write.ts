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
    insertRequest.many(records.map(toRequestRow));
    insertAttempt.many(records.flatMap(toFailedAttemptRows));
    for (const bucketSec of ROLLUP_BUCKETS_SEC) {
      for (const row of toRollupRows(records, bucketSec)) addRollup.one(row);
      for (const row of toLatencyRollupRows(records, bucketSec)) addLatencies.one(row);
    }
  });
  return (records) => {
    if (records.length > 0) write(records);
  };
}

type Row = Record<string, unknown>;

/** Rows per multi-row INSERT: a statement per row costs about twice as much per row (measured, bun:sqlite). */
const ROWS_PER_STATEMENT = 50;

type Insert = { one(row: Row): void; many(rows: readonly Row[]): void };

/**
 * `INSERT … VALUES (?, …)` over every column but an autoincrement id; with `key`, a conflict on it
 * adds the incoming values to the stored ones (how rollup increments accumulate).
 */
function prepareInsert(client: Database, table: SQLiteTable, options: { key?: Column[] } = {}): Insert {
  const columns = Object.entries(getTableColumns(table)).filter(([, column]) => !(column.primary && column.columnType === "SQLiteInteger"));
  const names = columns.map(([, column]) => `"${column.name}"`);
  const tuple = `(${names.map(() => "?").join(", ")})`;
  const head = `INSERT INTO "${getTableName(table)}" (${names.join(", ")}) VALUES `;
  let text = head + tuple;
  if (options.key) {
    const keyNames = new Set(options.key.map((column) => column.name));
    const increments = columns
      .filter(([, column]) => !keyNames.has(column.name))
      .map(([, column]) => `"${column.name}" = "${column.name}" + excluded."${column.name}"`);
    text += ` ON CONFLICT (${options.key.map((column) => `"${column.name}"`).join(", ")}) DO UPDATE SET ${increments.join(", ")}`;
  }
  const statement: Statement = client.prepare(text);
  // Upserts stay one row per statement: their rows are few (a batch's sums), and order across conflicts is plain.
  const multiStatement: Statement | null = options.key ? null : client.prepare(head + Array(ROWS_PER_STATEMENT).fill(tuple).join(", "));
  const keys = columns.map(([key]) => key);
  const fallbacks = columns.map(([, column]): unknown => column.default ?? null);
  // Only boolean-mode columns change on the way to SQLite; mapping the rest would cost a call per value.
  const mappers = columns.map(([, column]) => (column.columnType === "SQLiteBoolean" ? (value: unknown) => column.mapToDriverValue(value) : null));
  const width = columns.length;
  const values: unknown[] = new Array(width);
  const multiValues: unknown[] = new Array(width * ROWS_PER_STATEMENT);
  const fill = (into: unknown[], at: number, row: Row) => {
    for (let index = 0; index < width; index++) {
      const value = row[keys[index] ?? ""];
      const mapper = mappers[index];
      into[at + index] = value === undefined || value === null ? fallbacks[index] : mapper ? mapper(value) : value;
    }
  };
  const one = (row: Row) => {
    fill(values, 0, row);
    statement.run(...(values as SQLiteBinding[]));
  };
  return {
    one,
    many(rows) {
      let next = 0;
      if (multiStatement) {
        for (; next + ROWS_PER_STATEMENT <= rows.length; next += ROWS_PER_STATEMENT) {
          for (let offset = 0; offset < ROWS_PER_STATEMENT; offset++) fill(multiValues, offset * width, rows[next + offset]!);
          multiStatement.run(...(multiValues as SQLiteBinding[]));
        }
      }
      for (; next < rows.length; next++) one(rows[next]!);
    },
  };
}

type SQLiteBinding = string | number | bigint | boolean | null | Uint8Array;
