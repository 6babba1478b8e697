// The admin API's wire types as the dashboard reads them: the shapes come from server/admin/wire.ts (types only).

export type { InstanceMetrics, InstanceStatus, InstanceView, RecentError, Tunables } from "../../server/admin/wire.ts";
import type { InstanceMetrics, InstanceView, RecentError } from "../../server/admin/wire.ts";

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
