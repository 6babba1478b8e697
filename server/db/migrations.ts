// The drizzle/ migrations, embedded so the compiled binary carries them; a new migration adds one import here.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import journal from "../../drizzle/meta/_journal.json" with { type: "json" };
import init from "../../drizzle/0000_init.sql" with { type: "text" };
import instanceOverrides from "../../drizzle/0001_instance_overrides.sql" with { type: "text" };
import requestsWithoutTimeIndex from "../../drizzle/0002_requests_without_time_index.sql" with { type: "text" };

/** Migration SQL by journal tag (the file name without `.sql`). */
export const EMBEDDED_MIGRATIONS: Readonly<Record<string, string>> = {
  "0000_init": init,
  "0001_instance_overrides": instanceOverrides,
  "0002_requests_without_time_index": requestsWithoutTimeIndex,
};
export const EMBEDDED_JOURNAL = journal;

/**
 * Runs Drizzle's own bun-sqlite migrator over a temporary copy of the embedded folder: the migrator
 * reads files, and a compiled binary has none, so the copy keeps Drizzle's bookkeeping (hashes, journal) exact.
 */
export function applyMigrations(db: BunSQLiteDatabase<Record<string, unknown>>): void {
  const folder = mkdtempSync(join(tmpdir(), "proxy-migrations-"));
  try {
    mkdirSync(join(folder, "meta"));
    writeFileSync(join(folder, "meta", "_journal.json"), JSON.stringify(EMBEDDED_JOURNAL));
    for (const [tag, sql] of Object.entries(EMBEDDED_MIGRATIONS)) writeFileSync(join(folder, `${tag}.sql`), sql);
    migrate(db, { migrationsFolder: folder });
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
