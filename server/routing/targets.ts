// Compiles the configured instances into per-model upstream targets once, so a request does a map lookup, not string work.
import type { Config, InstanceConfig } from "../config/schema.ts";
import {
  OPERATIONS,
  isModelInBody,
  supportsStreamUsage,
  toAuthHeader,
  toUpstreamUrl,
  type Operation,
} from "../providers/azure/url.ts";
import { toUpstreamHeaders } from "../providers/azure/request.ts";

export type Target = {
  instance: Readonly<InstanceConfig>;
  model: string;
  deployment: string;
  urls: Readonly<Record<Operation, string>>;
  authHeader: readonly [string, string];
  /** The deployment goes in the body's `model` (Azure v1 form, OpenAI-compatible upstreams). */
  modelInBody: boolean;
  /** The upstream accepts `stream_options.include_usage`. */
  streamUsage: boolean;
  /** Strings that must never leave the proxy in a relayed upstream body. */
  secrets: readonly string[];
  /** What every call to this target sends besides the body, for a buffered and a streamed answer. */
  upstreamHeaders: { readonly json: Readonly<Record<string, string>>; readonly stream: Readonly<Record<string, string>> };
};

export type TargetTable = {
  /** Enabled targets serving a model, in configuration order. */
  byModel: ReadonlyMap<string, readonly Target[]>;
  /** Azure-style paths name a deployment; this maps a deployment name back to the model it serves. */
  modelOfDeployment: ReadonlyMap<string, string>;
  models: readonly string[];
};

/** @param configSecrets every other secret of the configuration: an upstream error body may echo any of them. */
export function buildTargetTable(config: Pick<Config, "instances">, configSecrets: readonly string[] = []): TargetTable {
  const byModel = new Map<string, Target[]>();
  const modelOfDeployment = new Map<string, string>();
  for (const instance of config.instances) {
    if (!instance.enabled) continue;
    for (const model of instance.supported_models) {
      const target = buildTarget(instance, model, configSecrets);
      const list = byModel.get(model) ?? [];
      list.push(target);
      byModel.set(model, list);
      if (!modelOfDeployment.has(target.deployment)) modelOfDeployment.set(target.deployment, model);
    }
  }
  // A model name always resolves to itself, even when some instance also uses it as another model's deployment.
  for (const model of byModel.keys()) modelOfDeployment.set(model, model);
  return { byModel, modelOfDeployment, models: [...byModel.keys()].sort() };
}

function buildTarget(instance: Readonly<InstanceConfig>, model: string, configSecrets: readonly string[]): Target {
  const deployment = instance.model_deployments[model] ?? model;
  const urls = Object.fromEntries(
    OPERATIONS.map((operation) => [operation, toUpstreamUrl(instance, operation, deployment)]),
  ) as Record<Operation, string>;
  const authHeader = toAuthHeader(instance);
  return {
    instance,
    model,
    deployment,
    urls,
    authHeader,
    modelInBody: isModelInBody(instance),
    streamUsage: supportsStreamUsage(instance),
    secrets: [...new Set([instance.api_key, new URL(instance.api_base).host, ...configSecrets])],
    // Frozen and shared by every call: the upstream client serialises each headers object once.
    upstreamHeaders: { json: toUpstreamHeaders(authHeader, false), stream: toUpstreamHeaders(authHeader, true) },
  };
}
