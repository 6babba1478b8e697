// Opens statistics as configured: the database, the recorder over it, and a close() that flushes before exit.
import type { Config } from "../config/schema.ts";
import { openStatsDatabase, type StatsDatabase } from "../db/client.ts";
import type { Logger } from "../log.ts";
import type { StatsDeps } from "./app-stats.ts";
import { createStatsRecorder } from "./recorder.ts";

export type OpenedStats = { deps: StatsDeps | undefined; close(): void };

/** A batch this large is written at once instead of waiting for the timer. */
const BATCH_ROWS = 1000;
const PRUNE_INTERVAL_MS = 3_600_000;

/** Never throws: a database that cannot be opened leaves the proxy serving, with /health saying stats: degraded. */
export function openStats(config: Readonly<Config["stats"]>, logger: Logger, now: () => number = Date.now): OpenedStats {
  if (!config.enabled) return { deps: undefined, close: () => {} };
  let database: StatsDatabase | null = null;
  try {
    database = openStatsDatabase(config.database);
  } catch (error) {
    logger.error("statistics database could not be opened: requests are served, statistics are not recorded", {
      database: config.database,
      error,
    });
  }
  const recorder = createStatsRecorder({
    database,
    logger,
    now,
    flushIntervalMs: config.flush_interval * 1000,
    maxQueue: config.max_queue,
    batchRows: BATCH_ROWS,
    retention: { rawDays: config.retention_days.raw, rollupDays: config.retention_days.rollups },
    pruneIntervalMs: PRUNE_INTERVAL_MS,
  });
  return {
    deps: { recorder, db: database?.db ?? null },
    close() {
      recorder.close();
      const { written, dropped } = recorder.status();
      logger.info("statistics flushed", { written, dropped });
      database?.close();
    },
  };
}
