// Fixed latency buckets shared by the rollups, the stats percentiles and the Prometheus histograms.

/** Upper bounds in ms, roughly 1.5x apart; one more bucket above the last holds everything slower. */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  5, 10, 15, 25, 35, 50, 75, 100, 150, 250, 350, 500, 750, 1000, 1500, 2500, 3500, 5000, 7500, 10_000, 15_000, 25_000,
  35_000, 50_000, 75_000, 100_000, 150_000, 300_000,
];

export const HISTOGRAM_SIZE = LATENCY_BOUNDS_MS.length + 1;

export type Percentiles = { p50: number | null; p95: number | null; p99: number | null };

/** Index of the bucket holding `ms` (bounds are inclusive upper bounds, like Prometheus' `le`). */
export function bucketIndexOf(ms: number): number {
  let low = 0;
  let high = LATENCY_BOUNDS_MS.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (ms <= (LATENCY_BOUNDS_MS[middle] ?? Number.POSITIVE_INFINITY)) high = middle;
    else low = middle + 1;
  }
  return low;
}

/**
 * The p-th percentile of bucketed counts, interpolated linearly inside its bucket as Prometheus'
 * histogram_quantile does; null when there are no observations. The overflow bucket reports its lower bound.
 */
export function estimatePercentile(counts: readonly number[], p: number): number | null {
  let total = 0;
  for (const count of counts) total += count;
  if (total === 0) return null;
  const rank = (p / 100) * total;
  let seen = 0;
  for (let index = 0; index < counts.length; index++) {
    const count = counts[index] ?? 0;
    if (count === 0 || seen + count < rank) {
      seen += count;
      continue;
    }
    const lower = index === 0 ? 0 : (LATENCY_BOUNDS_MS[index - 1] ?? 0);
    const upper = LATENCY_BOUNDS_MS[index];
    if (upper === undefined) return lower;
    return Math.round(lower + ((upper - lower) * (rank - seen)) / count);
  }
  return LATENCY_BOUNDS_MS.at(-1) ?? null;
}

export function percentilesOf(counts: readonly number[]): Percentiles {
  return { p50: estimatePercentile(counts, 50), p95: estimatePercentile(counts, 95), p99: estimatePercentile(counts, 99) };
}
