// Numbers the views show, derived from state on demand (never stored twice). Pure.
import type { InstanceMetrics, InstanceView, MetricsSample } from "./contract.ts";

export type Point = { x: number; y: number | null };

/** The last sample's figures for one instance, if the last sample has it. */
export function latestMetrics(samples: MetricsSample[], name: string): InstanceMetrics | undefined {
  return samples.at(-1)?.instances[name];
}

/** Client errors the instance served in the minute before the newest sample. */
export function errorsInLastMinute(samples: MetricsSample[], name: string): number {
  const newest = samples.at(-1);
  if (!newest) return 0;
  let errors = 0;
  for (const sample of samples) {
    if (sample.at > newest.at - 60_000) errors += sample.instances[name]?.errors ?? 0;
  }
  return errors;
}

/** p50/p95 of the latest second that had a request, so an idle second does not blank the card. */
export function recentLatency(samples: MetricsSample[], name: string, lookback = 30): { p50: number | null; p95: number | null } {
  for (let i = samples.length - 1; i >= Math.max(0, samples.length - lookback); i--) {
    const metrics = samples[i]?.instances[name];
    if (metrics && metrics.latency_p95_ms !== null) return { p50: metrics.latency_p50_ms, p95: metrics.latency_p95_ms };
  }
  return { p50: null, p95: null };
}

/** One chart line: x is seconds relative to the newest sample (0 = now, -600 = ten minutes ago). */
export function seriesOf(samples: MetricsSample[], name: string, pick: (metrics: InstanceMetrics) => number | null): Point[] {
  const newest = samples.at(-1);
  if (!newest) return [];
  return samples.map((sample) => {
    const metrics = sample.instances[name];
    return { x: (sample.at - newest.at) / 1000, y: metrics ? pick(metrics) : null };
  });
}

/** Whole seconds left of a cooldown, 0 once it is over or when there is none. */
export function cooldownSecondsLeft(instance: InstanceView, nowMs: number): number {
  const until = instance.state.cooldown_until;
  if (until === null) return 0;
  return Math.max(0, Math.ceil((until - nowMs) / 1000));
}

/** Share of a limit in use, 0..1, or null when there is no limit. */
export function shareOf(used: number, limit: number | null): number | null {
  if (limit === null || limit <= 0) return null;
  return Math.min(1, used / limit);
}

/** Instance names that appear in the fleet or in any kept sample, fleet order first, so charts keep a line for a removed instance until it rolls off. */
export function chartedNames(instances: InstanceView[], samples: MetricsSample[]): string[] {
  const names = instances.map((instance) => instance.name);
  const known = new Set(names);
  for (const sample of samples) {
    for (const name of Object.keys(sample.instances)) {
      if (!known.has(name)) {
        known.add(name);
        names.push(name);
      }
    }
  }
  return names;
}
