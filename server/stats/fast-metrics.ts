// Labelled counters and histograms for the request path: plain numbers per label combination, handed to a
// prom-client Registry only when it is scraped. prom-client's own inc/observe hash the labels object on
// every call (~4 µs per request here); these look a child up once per combination and then only add.
import type { Registry } from "prom-client";

type Labels = Record<string, string>;
type Value = { labels: Labels; sharedLabels?: Labels; value: number; metricName?: string };

/** The shape Registry.registerMetric and the text exposition read (get, reset, name, help, type). */
type RegistrableMetric = {
  name: string;
  help: string;
  type: "counter" | "histogram";
  aggregator: "sum";
  get(): Promise<{ name: string; help: string; type: string; values: Value[]; aggregator: "sum" }>;
  reset(): void;
};

export type CounterChild = { inc(value?: number): void };
export type HistogramChild = { observe(value: number): void };

type Definition<Names extends string> = { name: string; help: string; labelNames: readonly Names[]; registry: Registry };

function keyOf(values: readonly string[]): string {
  return values.join("\u0000");
}

export function createCounter<Names extends string>(definition: Definition<Names>) {
  const children = new Map<string, { labels: Labels; value: number }>();
  /** Bumped by reset, so children kept by callers drop the series reset removed. */
  let generation = 0;
  const metric: RegistrableMetric = {
    name: definition.name,
    help: definition.help,
    type: "counter",
    aggregator: "sum",
    get: async () => ({
      name: definition.name,
      help: definition.help,
      type: "counter",
      aggregator: "sum",
      values: [...children.values()].map(({ labels, value }) => ({ labels, value })),
    }),
    reset: () => {
      children.clear();
      generation++;
    },
  };
  definition.registry.registerMetric(metric as never);
  return {
    /** The child for one label combination; keep it and call inc on it. The series appears at the first inc, as in prom-client. */
    child(labels: Record<Names, string>): CounterChild {
      const key = keyOf(definition.labelNames.map((name) => labels[name]));
      let target = children.get(key);
      let seen = generation;
      return {
        inc(value = 1) {
          if (!target || seen !== generation) {
            seen = generation;
            target = children.get(key);
            if (!target) children.set(key, (target = { labels: { ...labels }, value: 0 }));
          }
          target.value += value;
        },
      };
    },
  };
}

export function createHistogram<Names extends string>(definition: Definition<Names> & { buckets: readonly number[] }) {
  const bounds = [...definition.buckets].sort((a, b) => a - b);
  const children = new Map<string, { labels: Labels; counts: Float64Array; sum: number; count: number }>();
  let generation = 0;
  const bucketName = `${definition.name}_bucket`;
  const metric: RegistrableMetric = {
    name: definition.name,
    help: definition.help,
    type: "histogram",
    aggregator: "sum",
    get: async () => {
      // The same values prom-client's Histogram exports: cumulative buckets, +Inf, _sum, _count.
      const values: Value[] = [];
      for (const { labels, counts, sum, count } of children.values()) {
        let cumulative = 0;
        bounds.forEach((bound, index) => {
          cumulative += counts[index] ?? 0;
          values.push({ labels: { le: bound as unknown as string }, sharedLabels: labels, value: cumulative, metricName: bucketName });
        });
        values.push({ labels: { le: "+Inf" }, sharedLabels: labels, value: count, metricName: bucketName });
        values.push({ labels: {}, sharedLabels: labels, value: sum, metricName: `${definition.name}_sum` });
        values.push({ labels: {}, sharedLabels: labels, value: count, metricName: `${definition.name}_count` });
      }
      return { name: definition.name, help: definition.help, type: "histogram", aggregator: "sum", values };
    },
    reset: () => {
      children.clear();
      generation++;
    },
  };
  definition.registry.registerMetric(metric as never);
  return {
    child(labels: Record<Names, string>): HistogramChild {
      const key = keyOf(definition.labelNames.map((name) => labels[name]));
      let target = children.get(key);
      let seen = generation;
      return {
        observe(value) {
          if (!Number.isFinite(value)) return;
          if (!target || seen !== generation) {
            seen = generation;
            target = children.get(key);
            if (!target) children.set(key, (target = { labels: { ...labels }, counts: new Float64Array(bounds.length), sum: 0, count: 0 }));
          }
          // Bucket i counts values ≤ bounds[i] and > bounds[i - 1]; past the last bound only +Inf (count) has them.
          let low = 0;
          let high = bounds.length;
          while (low < high) {
            const middle = (low + high) >> 1;
            if (value <= (bounds[middle] ?? Infinity)) high = middle;
            else low = middle + 1;
          }
          if (low < bounds.length) target.counts[low] = (target.counts[low] ?? 0) + 1;
          target.sum += value;
          target.count += 1;
        },
      };
    },
  };
}
