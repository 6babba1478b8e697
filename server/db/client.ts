// Opens the statistics SQLite file: WAL, synchronous=NORMAL, a short busy timeout, migrations applied.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { applyMigrations } from "./migrations.ts";
import * as schema from "./schema.ts";

export type StatsDb = BunSQLiteDatabase<typeof schema>;

export type StatsDatabase = {
  db: StatsDb;
  client: Database;
  close(): void;
};

/**
 * bun:sqlite blocks the event loop while it waits for a lock, so the wait is short: the recorder is
 * the only writer, and a flush that cannot get the lock is simply retried on the next tick.
 */
export const BUSY_TIMEOUT_MS = 250;

export function openStatsDatabase(path: string): StatsDatabase {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const client = new Database(path, { create: true, strict: true });
  try {
    client.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    client.run("PRAGMA journal_mode = WAL");
    // With WAL, NORMAL loses no committed transaction when the process dies; only a power cut can.
    client.run("PRAGMA synchronous = NORMAL");
    const db = drizzle({ client, schema });
    applyMigrations(db);
    return { db, client, close: () => client.close() };
  } catch (error) {
    client.close();
    throw error;
  }
}

/** A connection over an existing client, for callers that open the file themselves (read-only tools, tests). */
export function wrapStatsClient(client: Database): StatsDatabase {
  return { db: drizzle({ client, schema }), client, close: () => client.close() };
}
