// Queues settled requests in memory and writes them in batches off the request path; a failing disk degrades, never throws.
import type { StatsDatabase } from "../db/client.ts";
import type { Logger } from "../log.ts";
import type { RequestRecord } from "../proxy/request-record.ts";
import { RequestQueue } from "./request-queue.ts";
import { createRetentionPruner, type Retention, type RetentionPruner } from "./retention.ts";
import { createBatchWriter, type BatchWriter } from "./write.ts";

export type RecorderStatus = {
  state: "ok" | "degraded";
  queued: number;
  /** Records never written: the queue was full, or there was no database. */
  dropped: number;
  written: number;
  lastError: string | null;
};

export type StatsRecorder = {
  /** O(1) and never throws: the request path only appends to the queue. */
  record(record: RequestRecord): void;
  /** Writes everything queued now, batch by batch; stops at the first failure. */
  flush(): void;
  /** Stops the timer and flushes; records arriving later are dropped. The database stays open. */
  close(): void;
  status(): RecorderStatus;
};

export type StatsRecorderOptions = {
  /** null when the database could not be opened: the recorder starts degraded and drops every record. */
  database: StatsDatabase | null;
  logger: Logger;
  now: () => number;
  flushIntervalMs: number;
  /** Records held at most while the disk is slow or failing; beyond it new ones are dropped and counted. */
  maxQueue: number;
  /** A batch this large is written without waiting for the timer. */
  batchRows: number;
  retention: Retention;
  pruneIntervalMs: number;
};

/** Rows deleted per table per tick while old data is pruned. */
const PRUNE_BATCH_ROWS = 5000;

export function createStatsRecorder(options: StatsRecorderOptions): StatsRecorder {
  const { logger } = options;
  const queue = new RequestQueue();
  let dropped = 0;
  let written = 0;
  let lastError: string | null = options.database ? null : "the statistics database could not be opened";
  let degraded = options.database === null;
  let closed = false;
  let flushScheduled = false;
  let nextPruneAt = 0;

  let write: BatchWriter | null = null;
  let prune: RetentionPruner | null = null;
  if (options.database) {
    try {
      write = createBatchWriter(options.database);
      prune = createRetentionPruner(options.database, options.retention, PRUNE_BATCH_ROWS);
    } catch (error) {
      degraded = true;
      lastError = messageOf(error);
      logger.error("statistics disabled: preparing the database failed", { error });
    }
  }

  /** Writes the oldest batch; the rows leave the queue only once committed. */
  const writeOneBatch = (): boolean => {
    if (!write || queue.length === 0) return false;
    const batch = queue.peek(options.batchRows);
    try {
      write(batch);
    } catch (error) {
      if (!degraded) logger.error("statistics writes failing: requests continue, records are queued", { error });
      degraded = true;
      lastError = messageOf(error);
      return false;
    }
    queue.drop(batch.count);
    written += batch.count;
    if (degraded) logger.info("statistics writes recovered", { written });
    degraded = false;
    lastError = null;
    return true;
  };

  const pruneIfDue = () => {
    const now = options.now();
    if (!prune || degraded || now < nextPruneAt) return;
    try {
      const { done } = prune(now);
      nextPruneAt = done ? now + options.pruneIntervalMs : now;
    } catch (error) {
      logger.warn("statistics retention failed; retrying later", { error });
      nextPruneAt = now + options.pruneIntervalMs;
    }
  };

  // Yield to the event loop between batches, so a backlog never stalls requests for long.
  const drainSoon = () => {
    if (flushScheduled || closed) return;
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      if (writeOneBatch() && queue.length >= options.batchRows) drainSoon();
    });
  };

  const timer = setInterval(() => {
    if (writeOneBatch() && queue.length > 0) drainSoon();
    pruneIfDue();
  }, options.flushIntervalMs);
  timer.unref();

  return {
    record(record) {
      if (closed || !write || queue.length >= options.maxQueue) {
        dropped++;
        return;
      }
      queue.push(record);
      if (queue.length >= options.batchRows && !degraded) drainSoon();
    },
    flush() {
      while (writeOneBatch());
    },
    close() {
      if (closed) return;
      clearInterval(timer);
      while (writeOneBatch());
      closed = true;
      dropped += queue.length;
      queue.clear();
    },
    status: () => ({ state: degraded ? "degraded" : "ok", queued: queue.length, dropped, written, lastError }),
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
