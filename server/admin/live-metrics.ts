// Per-instance figures for the dashboard's once-a-second metrics frame (pure): fed by settled requests, drained per frame.
import type { RequestRecord } from "../proxy/request-record.ts";
import type { InstanceMetrics } from "./wire.ts";

export type InstanceSecond = InstanceMetrics;

type Tally = { attempts: number; tokens: number; errors: number; latencies: number[] };

/** Past this many latencies in one second the rest are not kept: percentiles stay exact enough, memory bounded. */
const MAX_LATENCIES = 5000;

export type LiveMetrics = {
  observe(record: RequestRecord): void;
  /** The figures since the previous call, per instance (every listed instance appears, idle ones as zeros). */
  drain(
    instances: readonly string[],
    live: (instance: string) => { utilisation: number; in_flight: number },
    elapsedMs: number,
  ): Record<string, InstanceSecond>;
};

export function createLiveMetrics(): LiveMetrics {
  let tallies = new Map<string, Tally>();
  const tallyOf = (instance: string): Tally => {
    let tally = tallies.get(instance);
    if (!tally) {
      tally = { attempts: 0, tokens: 0, errors: 0, latencies: [] };
      tallies.set(instance, tally);
    }
    return tally;
  };
  return {
    observe(record) {
      for (const attempt of record.failedAttempts) {
        const tally = tallyOf(attempt.instance);
        tally.attempts++;
        tally.errors++;
      }
      if (record.instance === null) return;
      const tally = tallyOf(record.instance);
      tally.attempts++;
      if (record.status >= 400) tally.errors++;
      tally.tokens += record.usage?.total_tokens ?? 0;
      if (tally.latencies.length < MAX_LATENCIES) tally.latencies.push(record.latencyMs);
    },
    drain(instances, live, elapsedMs) {
      const seconds = Math.max(elapsedMs, 1) / 1000;
      const drained = tallies;
      tallies = new Map();
      const frame: Record<string, InstanceSecond> = {};
      for (const instance of instances) {
        const tally = drained.get(instance);
        const latencies = (tally?.latencies ?? []).sort((a, b) => a - b);
        const state = live(instance);
        frame[instance] = {
          requests_per_s: round((tally?.attempts ?? 0) / seconds),
          tokens_per_s: round((tally?.tokens ?? 0) / seconds),
          latency_p50_ms: percentile(latencies, 0.5),
          latency_p95_ms: percentile(latencies, 0.95),
          errors: tally?.errors ?? 0,
          error_rate: tally && tally.attempts > 0 ? round(tally.errors / tally.attempts) : 0,
          utilisation: round(state.utilisation),
          in_flight: state.in_flight,
        };
      }
      return frame;
    },
  };
}

/** Nearest-rank percentile of sorted values; null without any. */
export function percentile(sorted: readonly number[], share: number): number | null {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(share * sorted.length) - 1));
  return sorted[index] ?? null;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
