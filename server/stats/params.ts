// Reads the stats endpoints' query parameters, rejecting bad ones with a 400 that names the parameter.
import { ProxyError } from "../errors.ts";
import { DEFAULT_WINDOW_MINUTES, MAX_WINDOW_MINUTES } from "./window.ts";

export const USAGE_METRICS = ["tokens", "requests", "errors", "latency"] as const;
export type UsageMetric = (typeof USAGE_METRICS)[number];

export type UsageFilters = { instance: string | null; model: string | null; key: string | null };
export type UsageParams = UsageFilters & { metric: UsageMetric; windowMinutes: number };

export function readWindowMinutes(query: URLSearchParams): number {
  const text = query.get("window");
  if (text === null || text === "") return DEFAULT_WINDOW_MINUTES;
  const minutes = /^\d{1,6}$/.test(text) ? Number(text) : Number.NaN;
  if (!(minutes >= 1 && minutes <= MAX_WINDOW_MINUTES)) {
    throw new ProxyError("invalid_request", `window must be a whole number of minutes from 1 to ${MAX_WINDOW_MINUTES}.`, {
      param: "window",
    });
  }
  return minutes;
}

export function readInstanceParam(query: URLSearchParams, known: { has(instance: string): boolean }): string {
  const instance = query.get("instance");
  if (instance === null || instance === "") {
    throw new ProxyError("missing_required_parameter", "Missing required parameter: 'instance'.", { param: "instance" });
  }
  if (!known.has(instance)) {
    throw new ProxyError("instance_not_found", `The instance '${instance}' is not configured on this proxy.`, { param: "instance" });
  }
  return instance;
}

export function readUsageParams(query: URLSearchParams): UsageParams {
  const metric = query.get("metric");
  if (metric === null || metric === "") {
    throw new ProxyError("missing_required_parameter", "Missing required parameter: 'metric'.", { param: "metric" });
  }
  if (!isUsageMetric(metric)) {
    throw new ProxyError("invalid_request", `metric must be one of ${USAGE_METRICS.join(", ")}.`, { param: "metric" });
  }
  const params: UsageParams = {
    metric,
    windowMinutes: readWindowMinutes(query),
    instance: query.get("instance") || null,
    model: query.get("model") || null,
    key: query.get("key") || null,
  };
  // Latency histograms are kept per instance, per model and per key, not per combination.
  const filters = (["instance", "model", "key"] as const).filter((name) => params[name] !== null);
  if (metric === "latency" && filters.length > 1) {
    throw new ProxyError("invalid_request", "metric=latency takes at most one of instance, model and key.", { param: filters[1] ?? null });
  }
  return params;
}

function isUsageMetric(text: string): text is UsageMetric {
  return (USAGE_METRICS as readonly string[]).includes(text);
}
