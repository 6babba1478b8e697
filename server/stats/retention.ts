// Retention: which rows are old enough to delete (pure), and deleting them a bounded batch at a time.
import type { StatsDatabase } from "../db/client.ts";

export type Retention = {
  /** Days raw request rows, failed attempts and per-minute rollups are kept. */
  rawDays: number;
  /** Days per-hour rollups are kept. */
  rollupDays: number;
};

export type RetentionCutoffs = { rawBeforeMs: number; minuteRollupsBeforeSec: number; hourRollupsBeforeSec: number };

const DAY_MS = 86_400_000;

export function retentionCutoffs(now: number, retention: Retention): RetentionCutoffs {
  const rawBeforeMs = now - retention.rawDays * DAY_MS;
  return {
    rawBeforeMs,
    minuteRollupsBeforeSec: Math.floor(rawBeforeMs / 1000),
    hourRollupsBeforeSec: Math.floor((now - retention.rollupDays * DAY_MS) / 1000),
  };
}

export type RetentionPruner = (now: number) => { deleted: number; done: boolean };

/**
 * Deletes at most `batchRows` rows per table per call, so a first start over a large old database never
 * blocks the event loop for long; `done` turns true once nothing older than the cutoffs remains.
 *
 * Raw request rows have no time index (it cost each insert about a third of its time): they are written in the
 * order requests settle, so the oldest ids are the oldest rows, and only the `batchRows` lowest ids are looked at.
 * A request that settled long after it started (a stream of hours) may outlive the cutoff by that long.
 */
export function createRetentionPruner(database: StatsDatabase, retention: Retention, batchRows: number): RetentionPruner {
  const { client } = database;
  const statements = [
    client.prepare("DELETE FROM requests WHERE id IN (SELECT id FROM (SELECT id, started_at_ms FROM requests ORDER BY id LIMIT ?2) WHERE started_at_ms < ?1)"),
    client.prepare("DELETE FROM failed_attempts WHERE id IN (SELECT id FROM failed_attempts WHERE started_at_ms < ?1 LIMIT ?2)"),
    client.prepare("DELETE FROM rollups WHERE rowid IN (SELECT rowid FROM rollups WHERE bucket_sec = 60 AND start_sec < ?1 LIMIT ?2)"),
    client.prepare("DELETE FROM rollups WHERE rowid IN (SELECT rowid FROM rollups WHERE bucket_sec = 3600 AND start_sec < ?1 LIMIT ?2)"),
  ];
  return (now) => {
    const cutoffs = retentionCutoffs(now, retention);
    const before = [cutoffs.rawBeforeMs, cutoffs.rawBeforeMs, cutoffs.minuteRollupsBeforeSec, cutoffs.hourRollupsBeforeSec];
    let deleted = 0;
    let done = true;
    client.transaction(() => {
      statements.forEach((statement, index) => {
        const changes = statement.run(before[index] ?? 0, batchRows).changes;
        deleted += changes;
        if (changes >= batchRows) done = false;
      });
    })();
    return { deleted, done };
  };
}
