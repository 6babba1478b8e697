// Upstream addresses for one instance: Azure's classic deployment paths, Azure's /openai/v1 form, or an OpenAI-compatible /v1.
import type { InstanceConfig } from "../../config/schema.ts";

export const OPERATIONS = ["chat/completions", "completions", "embeddings"] as const;
export type Operation = (typeof OPERATIONS)[number];

/** True where the deployment travels in the body's `model` rather than in the path. */
export function isModelInBody(instance: Pick<InstanceConfig, "provider_type" | "api_version">): boolean {
  return instance.provider_type === "openai" || instance.api_version === "v1";
}

export function toUpstreamUrl(
  instance: Pick<InstanceConfig, "provider_type" | "api_base" | "api_version">,
  operation: Operation,
  deployment: string,
): string {
  const base = instance.api_base.replace(/\/+$/, "");
  if (instance.provider_type === "openai") return `${base}/v1/${operation}`;
  if (instance.api_version === "v1") return `${base}/openai/v1/${operation}`;
  return `${base}/openai/deployments/${encodeURIComponent(deployment)}/${operation}?api-version=${encodeURIComponent(instance.api_version)}`;
}

/** The cheap authenticated probe Azure offers: lists models, costs no tokens. */
export function toProbeUrl(instance: Pick<InstanceConfig, "provider_type" | "api_base" | "api_version">): string {
  const base = instance.api_base.replace(/\/+$/, "");
  if (instance.provider_type === "openai") return `${base}/v1/models`;
  if (instance.api_version === "v1") return `${base}/openai/v1/models`;
  return `${base}/openai/models?api-version=${encodeURIComponent(instance.api_version)}`;
}

/** `stream_options` is rejected with a 400 by Azure api-versions older than 2024-09-01-preview. */
export function supportsStreamUsage(instance: Pick<InstanceConfig, "provider_type" | "api_version">): boolean {
  if (isModelInBody(instance)) return true;
  return instance.api_version.slice(0, 10) >= "2024-09-01";
}

export function toAuthHeader(instance: Pick<InstanceConfig, "provider_type" | "api_version" | "api_key">): [string, string] {
  return instance.provider_type === "openai" || instance.api_version === "v1"
    ? ["authorization", `Bearer ${instance.api_key}`]
    : ["api-key", instance.api_key];
}
