// Sliding-window counters over fixed buckets, one per limited subject: pure math with the time passed in (twin of the Lua in redis-scripts.ts).

export type WindowParams = {
  /** The window a limit applies to: 60 000 for "per minute". */
  windowMs: number;
  /** Granularity: a reservation stops counting between windowMs and windowMs + bucketMs after it was made. */
  bucketMs: number;
};

export const MINUTE_WINDOW: WindowParams = { windowMs: 60_000, bucketMs: 1_000 };

/** Limits per window; null means "not limited". */
export type Limits = { tokenLimit: number | null; requestLimit: number | null };

export type BucketCount = { tokens: number; requests: number };

/** The state of one subject (an instance or a client key); mutated in place by the functions below. */
export type SubjectWindow = {
  /** Lowest bucket index that may still hold counts. */
  head: number;
  tokens: number;
  requests: number;
  /** Highest bucket index ever written, -1 when none. */
  last: number;
  buckets: Map<number, BucketCount>;
};

/** What a subject holds right now: enough for headers and headroom snapshots. */
export type WindowUsage = { tokens: number; requests: number; last: number };

export function createSubjectWindow(): SubjectWindow {
  return { head: 0, tokens: 0, requests: 0, last: -1, buckets: new Map() };
}

export function bucketOf(nowMs: number, params: WindowParams): number {
  return Math.floor(nowMs / params.bucketMs);
}

function bucketsPerWindow(params: WindowParams): number {
  return Math.floor(params.windowMs / params.bucketMs);
}

/** Index of the oldest bucket still counted at `nowMs`: the current bucket and the n before it. */
export function oldestLiveBucket(nowMs: number, params: WindowParams): number {
  return bucketOf(nowMs, params) - bucketsPerWindow(params);
}

/** When the counts of bucket `bucket` stop counting. */
export function expiryOfBucket(bucket: number, params: WindowParams): number {
  return (bucket + bucketsPerWindow(params) + 1) * params.bucketMs;
}

/** Drops buckets that left the window; returns false when the subject holds nothing any more. */
export function advanceWindow(window: SubjectWindow, nowMs: number, params: WindowParams): boolean {
  const oldest = oldestLiveBucket(nowMs, params);
  if (window.last < oldest) {
    window.head = oldest;
    window.tokens = 0;
    window.requests = 0;
    window.last = -1;
    window.buckets.clear();
    return false;
  }
  if (window.head >= oldest) return true;
  // At most n + 1 buckets are held, and this runs once per bucket boundary at most.
  for (const [bucket, count] of window.buckets) {
    if (bucket >= oldest) continue;
    window.tokens -= count.tokens;
    window.requests -= count.requests;
    window.buckets.delete(bucket);
  }
  window.head = Math.max(window.head, oldest);
  return true;
}

export function fitsWindow(usage: WindowUsage, need: number, limits: Limits): boolean {
  return (
    (limits.tokenLimit === null || usage.tokens + need <= limits.tokenLimit) &&
    (limits.requestLimit === null || usage.requests + 1 <= limits.requestLimit)
  );
}

export function isLimited(limits: Limits): boolean {
  return limits.tokenLimit !== null || limits.requestLimit !== null;
}

/**
 * Milliseconds until `need` tokens and one request fit, if nothing else is reserved meanwhile.
 * Infinity when `need` exceeds the token limit: such a request can never fit.
 */
export function retryAfterInWindow(window: SubjectWindow, need: number, limits: Limits, nowMs: number, params: WindowParams): number {
  if (limits.tokenLimit !== null && need > limits.tokenLimit) return Infinity;
  const tokenExcess = limits.tokenLimit === null ? 0 : window.tokens + need - limits.tokenLimit;
  const requestExcess = limits.requestLimit === null ? 0 : window.requests + 1 - limits.requestLimit;
  if (tokenExcess <= 0 && requestExcess <= 0) return 0;
  const current = bucketOf(nowMs, params);
  let freedTokens = 0;
  let freedRequests = 0;
  for (let bucket = oldestLiveBucket(nowMs, params); bucket <= current; bucket++) {
    const count = window.buckets.get(bucket);
    freedTokens += count?.tokens ?? 0;
    freedRequests += count?.requests ?? 0;
    if (freedTokens >= tokenExcess && freedRequests >= requestExcess) return expiryOfBucket(bucket, params) - nowMs;
  }
  return expiryOfBucket(current, params) - nowMs;
}

/** Counts `need` tokens and one request in the current bucket; returns that bucket (the reservation's handle). */
export function commitToWindow(window: SubjectWindow, need: number, nowMs: number, params: WindowParams): number {
  const bucket = bucketOf(nowMs, params);
  const count = window.buckets.get(bucket) ?? { tokens: 0, requests: 0 };
  count.tokens += need;
  count.requests += 1;
  window.buckets.set(bucket, count);
  window.tokens += need;
  window.requests += 1;
  window.last = Math.max(window.last, bucket);
  return bucket;
}

/**
 * Changes what a reservation made in `bucket` counts (reconcile: the token difference; refund: minus all).
 * A bucket that already left the window is past caring; counts never go below zero.
 */
export function adjustWindow(
  window: SubjectWindow,
  bucket: number,
  delta: BucketCount,
  nowMs: number,
  params: WindowParams,
): void {
  advanceWindow(window, nowMs, params);
  if (bucket < oldestLiveBucket(nowMs, params)) return;
  const count = window.buckets.get(bucket) ?? { tokens: 0, requests: 0 };
  const tokens = Math.max(0, count.tokens + delta.tokens);
  const requests = Math.max(0, count.requests + delta.requests);
  window.tokens += tokens - count.tokens;
  window.requests += requests - count.requests;
  count.tokens = tokens;
  count.requests = requests;
  window.buckets.set(bucket, count);
  if (tokens > 0 || requests > 0) window.last = Math.max(window.last, bucket);
}

export function usageOf(window: SubjectWindow): WindowUsage {
  return { tokens: window.tokens, requests: window.requests, last: window.last };
}
