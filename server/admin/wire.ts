// The admin API's wire shapes, shared by the server that sends them and the dashboard that reads them.
// Types only and no imports: the dashboard's own typecheck and bundle pull this file in and nothing behind it.

export type Tunables = { enabled: boolean; weight: number; priority: number; max_tpm: number | null; max_rpm: number | null };

export type InstanceStatus = "healthy" | "cooldown" | "circuit_open" | "half_open" | "misconfigured" | "probe_down" | "disabled";

export type LimiterUsage = { tokens_used: number; requests_used: number; utilisation: number };

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
    limiter: LimiterUsage & { max_tpm: number | null; max_rpm: number | null };
    azure_remaining: { tokens: number | null; requests: number | null };
    last_error: { at: number; message: string } | null;
  };
};

export type RecentError = { at: number; model: string; instance: string | null; status: number; code: string | null; request_id: string };

/** One instance's figures over the last second, as the metrics frame carries them. */
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
