// Small pure statistics for the benchmark: nearest-rank percentiles and medians across runs.

/** Nearest-rank percentile of an ascending list; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const middle = Math.floor(finite.length / 2);
  const upper = finite[middle] ?? Number.NaN;
  return finite.length % 2 === 1 ? upper : ((finite[middle - 1] ?? upper) + upper) / 2;
}

/** Field-by-field median of objects of one shape; fields absent from a sample are skipped for it. */
export function medianOf<T extends Record<string, number>>(samples: readonly T[]): T {
  const keys = new Set(samples.flatMap((sample) => Object.keys(sample)));
  const out: Record<string, number> = {};
  for (const key of keys) out[key] = median(samples.map((sample) => sample[key] ?? Number.NaN));
  return out as T;
}
