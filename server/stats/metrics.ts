// Prometheus metrics for one app: request/token counters and latency histograms fed from settled requests, gauges read on scrape.
import { Counter, Gauge, Registry } from "prom-client";
import { createCounter, createHistogram, type CounterChild, type HistogramChild } from "./fast-metrics.ts";
import type { RequestRecord } from "../proxy/request-record.ts";
import { LATENCY_BOUNDS_MS } from "./histogram.ts";
import type { RecorderStatus } from "./recorder.ts";

export type InstanceGauge = { instance: string; available: boolean; cooldownRemainingSec: number };
export type LimiterGauge = { instance: string; utilisation: number };

/** Read on every scrape; each is optional so an app without that part still serves /metrics. */
export type MetricSources = {
  instances?: () => readonly InstanceGauge[];
  limiter?: () => readonly LimiterGauge[];
  recorder?: () => RecorderStatus;
};

export type ProxyMetrics = {
  registry: Registry;
  observe(record: RequestRecord): void;
};

/** Label value for requests no instance answered (rejected before any upstream, or every attempt failed). */
const NO_INSTANCE = "none";
const BUCKETS_SEC = LATENCY_BOUNDS_MS.map((ms) => ms / 1000);

/** Model label for names no instance serves: a client must not be able to mint label values. */
const OTHER_MODEL = "other";

export function createProxyMetrics(knownModels: ReadonlySet<string>, sources: MetricSources = {}): ProxyMetrics {
  const registry = new Registry();
  const registers = [registry];
  // The per-request series are plain numbers until a scrape (fast-metrics.ts); the rest are read on scrape anyway.
  const requests = createCounter({
    name: "proxy_requests_total",
    help: "Client requests by the instance that answered, model and status (499: the client went away).",
    labelNames: ["instance", "model", "status"] as const,
    registry,
  });
  const tokens = createCounter({
    name: "proxy_tokens_total",
    help: "Tokens used by answered requests, by type.",
    labelNames: ["instance", "model", "type"] as const,
    registry,
  });
  const duration = createHistogram({
    name: "proxy_request_duration_seconds",
    help: "Time from a request's arrival to its last byte.",
    labelNames: ["instance", "model"] as const,
    buckets: BUCKETS_SEC,
    registry,
  });
  const ttfb = createHistogram({
    name: "proxy_time_to_first_byte_seconds",
    help: "Time from a request's arrival to the first byte of the upstream answer.",
    labelNames: ["instance", "model"] as const,
    buckets: BUCKETS_SEC,
    registry,
  });
  const failedAttempts = new Counter({
    name: "proxy_failed_attempts_total",
    help: "Upstream attempts that failed and were retried elsewhere or gave up, by instance and reason.",
    labelNames: ["instance", "reason"] as const,
    registers,
  });
  new Gauge({
    name: "proxy_instance_up",
    help: "1 when the instance may take requests now, 0 while it cools down, its circuit is open or its probe fails.",
    labelNames: ["instance"] as const,
    registers,
    collect() {
      this.reset();
      for (const gauge of sources.instances?.() ?? []) this.set({ instance: gauge.instance }, gauge.available ? 1 : 0);
    },
  });
  new Gauge({
    name: "proxy_instance_cooldown_seconds",
    help: "Seconds until a cooling-down instance takes requests again (0 when it is available).",
    labelNames: ["instance"] as const,
    registers,
    collect() {
      this.reset();
      for (const gauge of sources.instances?.() ?? []) this.set({ instance: gauge.instance }, gauge.cooldownRemainingSec);
    },
  });
  new Gauge({
    name: "proxy_limiter_utilisation_ratio",
    help: "Share of an instance's per-minute limits in use by the last answer seen (0..1; 0 when unknown or unlimited).",
    labelNames: ["instance"] as const,
    registers,
    collect() {
      this.reset();
      for (const gauge of sources.limiter?.() ?? []) this.set({ instance: gauge.instance }, gauge.utilisation);
    },
  });
  let droppedSeen = 0;
  new Counter({
    name: "proxy_stats_dropped_total",
    help: "Request records the statistics database never received (queue full, or no database).",
    registers,
    collect() {
      const dropped = sources.recorder?.().dropped ?? 0;
      if (dropped > droppedSeen) this.inc(dropped - droppedSeen);
      droppedSeen = dropped;
    },
  });
  new Gauge({
    name: "proxy_stats_queue_depth",
    help: "Request records waiting to be written to the statistics database.",
    registers,
    collect() {
      this.set(sources.recorder?.().queued ?? 0);
    },
  });
  new Gauge({
    name: "proxy_stats_degraded",
    help: "1 while statistics cannot be written (requests are served regardless).",
    registers,
    collect() {
      this.set(sources.recorder?.().state === "degraded" ? 1 : 0);
    },
  });

  // Each label combination's children are looked up once, then a request only adds to numbers.
  const perAnswer = new Map<string, AnswerChildren>();
  // Answers come in runs of alike ones: the previous answer's children are checked before a map key is built.
  let last: { instance: string; model: string; status: number; children: AnswerChildren } | null = null;
  const childrenFor = (instance: string, model: string, status: number): AnswerChildren => {
    if (last !== null && last.instance === instance && last.model === model && last.status === status) return last.children;
    const key = `${instance}\u0000${model}\u0000${status}`;
    let children = perAnswer.get(key);
    if (!children) {
      children = {
        requests: requests.child({ instance, model, status: String(status) }),
        promptTokens: tokens.child({ instance, model, type: "prompt" }),
        completionTokens: tokens.child({ instance, model, type: "completion" }),
        duration: duration.child({ instance, model }),
        ttfb: ttfb.child({ instance, model }),
      };
      perAnswer.set(key, children);
    }
    last = { instance, model, status, children };
    return children;
  };

  return {
    registry,
    observe(record) {
      const instance = record.instance ?? NO_INSTANCE;
      const model = knownModels.has(record.model) ? record.model : OTHER_MODEL;
      const children = childrenFor(instance, model, record.status);
      children.requests.inc();
      if (record.usage) {
        children.promptTokens.inc(record.usage.prompt_tokens);
        children.completionTokens.inc(record.usage.completion_tokens);
      }
      children.duration.observe(record.latencyMs / 1000);
      if (record.ttfbMs !== null) children.ttfb.observe(record.ttfbMs / 1000);
      for (const attempt of record.failedAttempts) failedAttempts.inc({ instance: attempt.instance, reason: attempt.reason });
    },
  };
}

type AnswerChildren = {
  requests: CounterChild;
  promptTokens: CounterChild;
  completionTokens: CounterChild;
  duration: HistogramChild;
  ttfb: HistogramChild;
};
