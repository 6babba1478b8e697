// Live load figures per instance that strategies weigh: requests in flight, EWMA latency, Azure's remaining quota.
import type { HeaderLookup } from "../upstream/client.ts";

export type InstanceLoad = {
  inFlight: number;
  /** Exponentially weighted latency to the first byte; null until the first answer. */
  ewmaLatencyMs: number | null;
  /** Azure's last x-ratelimit-remaining-tokens / -requests; null when unknown (Azure sends -1/0 for unknown). */
  azureRemainingTokens: number | null;
  azureRemainingRequests: number | null;
};

const EWMA_ALPHA = 0.3;

export type LoadTracker = {
  get(instance: string): InstanceLoad;
  started(instance: string): void;
  finished(instance: string): void;
  observeLatency(instance: string, latencyMs: number): void;
  observeRemaining(instance: string, headers: HeaderLookup): void;
  snapshot(): ReadonlyMap<string, InstanceLoad>;
};

export function createLoadTracker(): LoadTracker {
  const loads = new Map<string, InstanceLoad>();
  const get = (instance: string): InstanceLoad => {
    let load = loads.get(instance);
    if (!load) {
      load = { inFlight: 0, ewmaLatencyMs: null, azureRemainingTokens: null, azureRemainingRequests: null };
      loads.set(instance, load);
    }
    return load;
  };
  return {
    get,
    started(instance) {
      get(instance).inFlight++;
    },
    finished(instance) {
      const load = get(instance);
      load.inFlight = Math.max(0, load.inFlight - 1);
    },
    observeLatency(instance, latencyMs) {
      const load = get(instance);
      load.ewmaLatencyMs = load.ewmaLatencyMs === null ? latencyMs : load.ewmaLatencyMs + EWMA_ALPHA * (latencyMs - load.ewmaLatencyMs);
    },
    observeRemaining(instance, headers) {
      const load = get(instance);
      load.azureRemainingTokens = readRemaining(headers.get("x-ratelimit-remaining-tokens"));
      load.azureRemainingRequests = readRemaining(headers.get("x-ratelimit-remaining-requests"));
    },
    snapshot: () => loads,
  };
}

/** Azure sends -1 or 0 without a 429 to mean "unknown", not "empty". */
function readRemaining(raw: string | null): number | null {
  if (raw === null) return null;
  const value = Number(raw);
  return Number.isFinite(value) && value > 0 ? value : null;
}
