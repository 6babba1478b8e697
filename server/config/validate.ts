// Turns merged, interpolated YAML into a frozen Config: defaults, schema errors with file and path, and semantic checks.
import { Value, type ValueError } from "@sinclair/typebox/value";
import { ConfigSchema, type Config, type InstanceConfig } from "./schema.ts";
import type { MissingVariable } from "./interpolate.ts";

export type ConfigProblem = { file: string; path: string; reason: string };
export type ValidatedConfig =
  | { ok: true; config: Readonly<Config>; warnings: string[] }
  | { ok: false; problems: ConfigProblem[] };

export function validateConfig(
  data: unknown,
  missing: MissingVariable[],
  sourceOf: (path: string) => string,
): ValidatedConfig {
  const withDefaults = Value.Default(ConfigSchema, structuredClone(data ?? {}));
  const schemaErrors = [...Value.Errors(ConfigSchema, withDefaults)];
  if (schemaErrors.length > 0) {
    return { ok: false, problems: dedupe(schemaErrors.map((error) => toProblem(error, sourceOf))) };
  }
  const config = withDefaults as Config;
  const warnings: string[] = [];
  const problems: ConfigProblem[] = [];
  const problem = (path: string, reason: string) => problems.push({ file: sourceOf(path), path, reason });

  // Semantic checks below name each instance by its index in the file, so keep that index through the filter.
  const usable = config.instances.map((instance, index) => ({ instance, index })).filter(({ instance, index }) => {
    const path = `instances[${index}]`;
    const empty = (["api_key", "api_base"] as const).filter((key) => instance[key] === "");
    if (empty.length === 0) return true;
    const variables = missing
      .filter((entry) => empty.some((key) => entry.path === `${path}.${key}`))
      .map((entry) => entry.variable);
    const because = variables.length > 0 ? `${[...new Set(variables)].join(", ")} not set` : `${empty.join(" and ")} empty`;
    warnings.push(`instance "${instance.name}" (${path}) skipped: ${because}`);
    return false;
  });
  const usableKeys = config.auth.api_keys.map((clientKey, index) => ({ clientKey, index })).filter(({ clientKey, index }) => {
    if (clientKey.key !== "") return true;
    const variables = missing.filter((entry) => entry.path === `auth.api_keys[${index}].key`).map((entry) => entry.variable);
    warnings.push(
      `client key "${clientKey.name}" skipped: ${variables.length > 0 ? `${variables.join(", ")} not set` : "key empty"}`,
    );
    return false;
  });

  config.instances = usable.map(({ instance }) => instance);
  const instanceNames = new Set<string>();
  usable.forEach(({ instance, index }) => {
    const path = `instances[${index}]`;
    if (instanceNames.has(instance.name)) problem(`${path}.name`, `duplicate instance name "${instance.name}"`);
    instanceNames.add(instance.name);
    if (!isHttpUrl(instance.api_base)) problem(`${path}.api_base`, "expected an http(s) URL");
    if (!isApiVersion(instance.api_version)) {
      problem(`${path}.api_version`, 'expected "v1" or a date version like "2024-10-21" or "2025-04-01-preview"');
    }
    for (const model of Object.keys(instance.model_deployments)) {
      if (!instance.supported_models.includes(model)) {
        problem(`${path}.model_deployments.${model}`, `model "${model}" is not in supported_models`);
      }
    }
  });
  config.auth.api_keys = usableKeys.map(({ clientKey }) => clientKey);
  const keyNames = new Set<string>();
  const keyValues = new Set<string>();
  usableKeys.forEach(({ clientKey, index }) => {
    if (keyNames.has(clientKey.name)) problem(`auth.api_keys[${index}].name`, `duplicate key name "${clientKey.name}"`);
    // The value is a secret: say that it repeats, never what it is.
    if (keyValues.has(clientKey.key)) problem(`auth.api_keys[${index}].key`, "the same key is configured twice");
    keyNames.add(clientKey.name);
    keyValues.add(clientKey.key);
  });
  // A client key must never open the admin API, and the admin token never the proxy.
  if (config.admin.token !== "" && keyValues.has(config.admin.token)) problem("admin.token", "must differ from every client key");
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: deepFreeze(config), warnings };
}

export function formatProblem(problem: ConfigProblem): string {
  return `${problem.file}: ${problem.path}: ${problem.reason}`;
}

function toProblem(error: ValueError, sourceOf: (path: string) => string): ConfigProblem {
  const path = pointerToPath(error.path);
  return { file: sourceOf(path), path: path || "(root)", reason: describe(error) };
}

/** TypeBox reports a failing union once per branch; the literal list reads better as one sentence. */
function describe(error: ValueError): string {
  const schema = error.schema as { anyOf?: Array<{ const?: unknown }>; additionalProperties?: unknown };
  if (schema.anyOf && schema.anyOf.every((branch) => branch.const !== undefined)) {
    return `expected one of ${schema.anyOf.map((branch) => JSON.stringify(branch.const)).join(", ")}`;
  }
  if (error.message.startsWith("Unexpected property")) return "unknown key";
  return error.message.charAt(0).toLowerCase() + error.message.slice(1);
}

function pointerToPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), "");
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const key = `${problem.path}\u0000${problem.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}

function isApiVersion(text: string): boolean {
  return text === "v1" || /^\d{4}-\d{2}-\d{2}(-preview)?$/.test(text);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

export type { InstanceConfig };
