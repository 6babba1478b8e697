// Reads the health policy out of the configuration (seconds in YAML, milliseconds in the state machine).
import type { Config } from "../config/schema.ts";
import type { HealthPolicy } from "./state.ts";

export function healthPolicyFrom(config: Pick<Config, "routing" | "health_check">): HealthPolicy {
  const { cooldown, circuit_breaker: circuit } = config.routing;
  return {
    failureThreshold: circuit.failure_threshold,
    errorRateThreshold: circuit.error_rate,
    errorRateMinRequests: circuit.min_requests,
    errorRateWindowMs: circuit.window_seconds * 1000,
    openBaseMs: circuit.open_seconds * 1000,
    openMaxMs: circuit.max_open_seconds * 1000,
    cooldownMinMs: cooldown.min_seconds * 1000,
    cooldownMaxMs: cooldown.max_seconds * 1000,
    cooldownDefaultMs: cooldown.default_seconds * 1000,
    probeDownAfter: config.health_check.down_after,
    probeUpAfter: config.health_check.up_after,
  };
}
