// The admin API's wire types as the dashboard reads them (see the README's admin section); no server imports.

export type Tunables = {
  enabled: boolean;
  weight: number;
  priority: number;
  max_tpm: number | null;
  max_rpm: number | null;
};

export type InstanceStatus = "healthy" | "cooldown" | "circuit_open" | "half_open" | "misconfigured" | "probe_down" | "disabled";

export type InstanceView = Tunables & {
  name: string;
  provider_type: "azure" | "openai";
  api_base: string;
  api_key_masked: string;
  api_version: string;
  supported_models: string[];
  model_deployments: Record<string, string>;
  file: Tunables;
  overrides: Partial<Tunables> | null;
  drift: (keyof Tunables)[];
  state: {
    status: InstanceStatus;
    circuit: "closed" | "open" | "half_open";
    cooldown_until: number | null;
    cooldown_reason: string | null;
    in_flight: number;
    ewma_latency_ms: number | null;
    limiter: { tokens_used: number; requests_used: number; max_tpm: number | null; max_rpm: number | null; utilisation: number };
    azure_remaining: { tokens: number | null; requests: number | null };
    last_error: { at: number; message: string } | null;
  };
};

export type RecentError = { at: number; model: string | null; instance: string | null; status: number; code: string | null; request_id: string };

export type InstanceMetrics = {
  requests_per_s: number;
  tokens_per_s: number;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  errors: number;
  error_rate: number;
  utilisation: number;
  in_flight: number;
};

export type MetricsSample = { at: number; instances: Record<string, InstanceMetrics> };

/** Frames of GET /admin/events, by their `event:` name. */
export type AdminEvent =
  | { type: "snapshot"; data: { at: number; instances: InstanceView[]; recent_errors: RecentError[] } }
  | { type: "metrics"; data: MetricsSample }
  | { type: "instance"; data: { at: number; instance: InstanceView } }
  | { type: "request_error"; data: RecentError }
  | { type: "config"; data: { at: number; reason: "override" | "reload"; instances: string[] } };

export const ADMIN_EVENT_TYPES = ["snapshot", "metrics", "instance", "request_error", "config"] as const satisfies ReadonlyArray<AdminEvent["type"]>;

/** GET /stats/?window= */
export type Tokens = { prompt: number; completion: number; total: number };
export type Percentiles = { p50: number | null; p95: number | null; p99: number | null };
export type UsageBreakdown = { requests: number; errors: number; tokens: Tokens; latency_ms: Percentiles };
export type StatsSummary = UsageBreakdown & {
  window_minutes: number;
  by_model: Record<string, UsageBreakdown>;
  by_instance: Record<string, UsageBreakdown>;
  by_key: Record<string, UsageBreakdown>;
};

/** GET /stats/usage?metric=&window= */
export type UsageSeries = { metric: string; window_minutes: number; bucket_seconds: number; points: { t: number; value: number | null }[] };
