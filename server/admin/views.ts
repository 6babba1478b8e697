// What the admin API shows of an instance (pure): configuration with the key masked, overrides and drift, live state.
import type { InstanceConfig } from "../config/schema.ts";
import type { InstanceHealth } from "../health/state.ts";
import type { InstanceLoad } from "../routing/load.ts";
import { driftOf, tunablesOf, type TunablesPatch } from "../fleet/tunables.ts";
import type { InstanceStatus, InstanceView, LimiterUsage } from "./wire.ts";

export type { InstanceStatus, InstanceView, LimiterUsage } from "./wire.ts";

export type InstanceViewInput = {
  file: Readonly<InstanceConfig>;
  effective: Readonly<InstanceConfig>;
  override: TunablesPatch | undefined;
  health: InstanceHealth;
  load: InstanceLoad;
  limiter: LimiterUsage;
  now: number;
  /** Removes anything secret from an error text before it is shown. */
  sanitize: (text: string) => string;
};

export function toInstanceView(input: InstanceViewInput): InstanceView {
  const { effective, health, load, now } = input;
  const tunables = tunablesOf(effective);
  const fileTunables = tunablesOf(input.file);
  const cooling = now < health.cooldownUntil;
  return {
    name: effective.name,
    provider_type: effective.provider_type,
    api_base: effective.api_base,
    api_key_masked: maskSecret(effective.api_key),
    api_version: effective.api_version,
    supported_models: [...effective.supported_models],
    model_deployments: { ...effective.model_deployments },
    ...tunables,
    file: fileTunables,
    overrides: input.override && Object.keys(input.override).length > 0 ? { ...input.override } : null,
    drift: driftOf(fileTunables, tunables),
    state: {
      status: statusOf(effective.enabled, health, now),
      circuit: health.circuit,
      cooldown_until: cooling ? health.cooldownUntil : null,
      cooldown_reason: cooling ? health.cooldownReason : null,
      in_flight: load.inFlight,
      ewma_latency_ms: load.ewmaLatencyMs === null ? null : Math.round(load.ewmaLatencyMs),
      limiter: { ...input.limiter, max_tpm: tunables.max_tpm, max_rpm: tunables.max_rpm },
      azure_remaining: { tokens: load.azureRemainingTokens, requests: load.azureRemainingRequests },
      last_error:
        health.lastError === null ? null : { at: health.lastFailureAt, message: input.sanitize(health.lastError).slice(0, 300) },
    },
  };
}

/** What an operator most needs to act on comes first: off, unreachable, tripped, throttled, wrong, fine. */
export function statusOf(enabled: boolean, health: InstanceHealth, now: number): InstanceStatus {
  if (!enabled) return "disabled";
  if (!health.probe.up) return "probe_down";
  if (health.circuit === "open") return "circuit_open";
  if (health.circuit === "half_open") return "half_open";
  if (now < health.cooldownUntil) return "cooldown";
  if (health.misconfigured !== null) return "misconfigured";
  return "healthy";
}

/** The last four characters identify a key among several; short secrets show nothing at all. */
export function maskSecret(secret: string): string {
  if (secret === "") return "";
  return secret.length >= 12 ? `…${secret.slice(-4)}` : "…";
}

/** Replaces every occurrence of each secret; longest first so a secret containing another is masked whole. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of [...secrets].filter((value) => value.length >= 4).sort((a, b) => b.length - a.length)) {
    result = result.split(secret).join("[redacted]");
  }
  return result;
}
