// Writes one batch of settled requests in a single transaction: raw rows, failed attempts, rollup increments.
import type { Database, Statement } from "bun:sqlite";
import { getTableColumns, getTableName, type Column } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import type { StatsDatabase } from "../db/client.ts";
import { failedAttempts, latencyRollups, requests, rollups } from "../db/schema.ts";
import type { RequestBatch } from "./request-queue.ts";
import { REQUEST_ROW_KEYS, ROLLUP_BUCKETS_SEC, toLatencyRollupRows, toRollupRows } from "./rows.ts";

export type BatchWriter = (batch: RequestBatch) => void;

/**
 * Statements are prepared once from the Drizzle schema and run per row on bun:sqlite directly: Drizzle's
 * query builder costs about ten times more per row, and this runs on the event loop every second.
 */
export function createBatchWriter(database: StatsDatabase): BatchWriter {
  const { client } = database;
  const insertRequest = prepareInsert(client, requests, { order: REQUEST_ROW_KEYS });
  const insertAttempt = prepareInsert(client, failedAttempts);
  const addRollup = prepareInsert(client, rollups, {
    key: [rollups.bucketSec, rollups.startSec, rollups.instance, rollups.model, rollups.clientName, rollups.status],
  });
  const addLatencies = prepareInsert(client, latencyRollups, {
    key: [latencyRollups.bucketSec, latencyRollups.startSec, latencyRollups.dimension, latencyRollups.value],
  });
  const write = client.transaction((batch: RequestBatch) => {
    insertRequest.values(batch.values, batch.count);
    insertAttempt.many(batch.failedAttempts);
    for (const bucketSec of ROLLUP_BUCKETS_SEC) {
      for (const row of toRollupRows(batch, bucketSec)) addRollup.one(row);
      for (const row of toLatencyRollupRows(batch, bucketSec)) addLatencies.one(row);
    }
  });
  return (batch) => {
    if (batch.count > 0) write(batch);
  };
}

type Row = Record<string, unknown>;

/** Rows per multi-row INSERT: a statement per row costs about twice as much per row (measured, bun:sqlite). */
const ROWS_PER_STATEMENT = 50;

type Insert = {
  one(row: Row): void;
  many(rows: readonly Row[]): void;
  /** `count` rows given as flat values in the `order` the insert was prepared with, ready for SQLite. */
  values(values: readonly unknown[], count: number): void;
};

/**
 * `INSERT … VALUES (?, …)` over every column but an autoincrement id (in `order` when given, which must name
 * each of them); with `key`, a conflict on it adds the incoming values to the stored ones (how rollup
 * increments accumulate).
 */
function prepareInsert(client: Database, table: SQLiteTable, options: { key?: Column[]; order?: readonly string[] } = {}): Insert {
  const tableColumns = getTableColumns(table);
  const insertable = Object.entries(tableColumns).filter(([, column]) => !(column.primary && column.columnType === "SQLiteInteger"));
  const { order } = options;
  if (order && (new Set(order).size !== order.length || order.length !== insertable.length || insertable.some(([key]) => !order.includes(key)))) {
    throw new Error(`the column order for ${getTableName(table)} does not name each of its columns once`);
  }
  const columns = order ? order.map((key) => [key, tableColumns[key]!] as const) : insertable;
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
  const fill = (into: unknown[], at: number, row: Row) => {
    for (let index = 0; index < width; index++) {
      const value = row[keys[index] ?? ""];
      const mapper = mappers[index];
      into[at + index] = value === undefined || value === null ? fallbacks[index] : mapper ? mapper(value) : value;
    }
  };
  const run = (prepared: Statement, bindings: readonly unknown[]) => prepared.run(...(bindings as SQLiteBinding[]));
  const values = (flat: readonly unknown[], count: number) => {
    let next = 0;
    if (multiStatement) {
      for (; next + ROWS_PER_STATEMENT <= count; next += ROWS_PER_STATEMENT) {
        run(multiStatement, flat.slice(next * width, (next + ROWS_PER_STATEMENT) * width));
      }
    }
    for (; next < count; next++) run(statement, flat.slice(next * width, (next + 1) * width));
  };
  return {
    one(row) {
      const bindings: unknown[] = new Array(width);
      fill(bindings, 0, row);
      run(statement, bindings);
    },
    values,
    many(rows) {
      const flat: unknown[] = new Array(rows.length * width);
      rows.forEach((row, index) => fill(flat, index * width, row));
      values(flat, rows.length);
    },
  };
}

type SQLiteBinding = string | number | bigint | boolean | null | Uint8Array;
