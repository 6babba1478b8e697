// Settled requests waiting for the statistics writer: their rows as flat column values, failed attempts beside them.
import type { FailedAttemptRow } from "../db/schema.ts";
import type { RequestRecord } from "../proxy/request-record.ts";
import { appendRequestRow, REQUEST_ROW_WIDTH, toFailedAttemptRows, type RequestRows } from "./rows.ts";

/** What one write takes: the oldest requests' rows, and the failed attempts of those requests. */
export type RequestBatch = RequestRows & { readonly failedAttempts: readonly FailedAttemptRow[] };

export class RequestQueue {
  #values: unknown[] = [];
  #count = 0;
  /** Failed attempts with the index of their request in the queue (rare: most requests succeed at once). */
  #failed: Array<{ request: number; row: FailedAttemptRow }> = [];

  get length(): number {
    return this.#count;
  }

  push(record: RequestRecord): void {
    appendRequestRow(this.#values, record);
    if (record.failedAttempts.length > 0) {
      for (const row of toFailedAttemptRows(record)) this.#failed.push({ request: this.#count, row });
    }
    this.#count++;
  }

  /** The oldest `max` requests; they stay queued until `drop` says they were written. */
  peek(max: number): RequestBatch {
    const count = Math.min(max, this.#count);
    const values = count === this.#count ? this.#values : this.#values.slice(0, count * REQUEST_ROW_WIDTH);
    const failedAttempts = this.#failed.filter((entry) => entry.request < count).map((entry) => entry.row);
    return { values, count, failedAttempts };
  }

  /** Forgets the oldest `count` requests. */
  drop(count: number): void {
    if (count >= this.#count) return this.clear();
    this.#values.splice(0, count * REQUEST_ROW_WIDTH);
    this.#count -= count;
    this.#failed = this.#failed.filter((entry) => entry.request >= count).map((entry) => ({ request: entry.request - count, row: entry.row }));
  }

  clear(): void {
    // A fresh list rather than length = 0: a batch handed out by peek may still hold the old one.
    this.#values = [];
    this.#count = 0;
    this.#failed = [];
  }
}
