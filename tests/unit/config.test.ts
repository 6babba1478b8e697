import { describe, expect, it } from "bun:test";
import { interpolateTree } from "../../server/config/interpolate.ts";
import { mergeConfigLayers } from "../../server/config/merge.ts";
import { formatProblem, validateConfig } from "../../server/config/validate.ts";

const instance = (overrides: Record<string, unknown> = {}) => ({
  name: "east",
  api_key: "k-east-secret",
  api_base: "https://east.openai.azure.com",
  supported_models: ["gpt-4o"],
  ...overrides,
});

describe("interpolateTree", () => {
  it("substitutes ${VAR} and ${VAR:-default} inside strings at any depth", () => {
    const { value, missing } = interpolateTree(
      { a: "x-${A}-y", list: [{ b: "${B:-fallback}" }], n: 3 },
      { A: "one" },
    );
    expect(value).toEqual({ a: "x-one-y", list: [{ b: "fallback" }], n: 3 });
    expect(missing).toEqual([]);
  });

  it("reports each missing variable with the path where it was used", () => {
    const { value, missing } = interpolateTree({ instances: [{ api_key: "${KEY}" }] }, {});
    expect(value).toEqual({ instances: [{ api_key: "" }] });
    expect(missing).toEqual([{ path: "instances[0].api_key", variable: "KEY" }]);
  });

  it("never lets a variable's value add YAML structure", () => {
    const { value } = interpolateTree({ name: "${EVIL}" }, { EVIL: "x\nport: 1" });
    expect(value).toEqual({ name: "x\nport: 1" });
  });
});

describe("mergeConfigLayers", () => {
  it("deep-merges objects and merges instances by name", () => {
    const merged = mergeConfigLayers([
      { file: "base.yaml", data: { routing: { retries: 3, timeout: 30 }, instances: [instance(), instance({ name: "west" })] } },
      { file: "production.yaml", data: { routing: { timeout: 60 }, instances: [{ name: "west", weight: 7 }, { name: "new", weight: 1 }] } },
    ]);
    expect(merged.data.routing).toEqual({ retries: 3, timeout: 60 });
    expect(merged.data.instances).toEqual([instance(), { ...instance({ name: "west" }), weight: 7 }, { name: "new", weight: 1 }]);
    expect(merged.sourceOf("routing.timeout")).toBe("production.yaml");
    expect(merged.sourceOf("routing.retries")).toBe("base.yaml");
    expect(merged.sourceOf("instances[1].weight")).toBe("production.yaml");
    expect(merged.sourceOf("instances[1].api_base")).toBe("base.yaml");
    expect(merged.sourceOf("instances[2].api_base")).toBe("production.yaml");
  });
});

describe("validateConfig", () => {
  const validate = (data: unknown, missing = [] as { path: string; variable: string }[]) =>
    validateConfig(data, missing, () => "configs/base.yaml");

  it("fills every default from the schema", () => {
    const result = validate({ instances: [instance()] });
    if (!result.ok) throw new Error("expected ok");
    expect(result.config.port).toBe(8080);
    expect(result.config.routing).toMatchObject({
      strategy: "failover",
      retries: 3,
      timeout: 30,
      first_token_timeout: 30,
      stream_idle_timeout: 60,
      cooldown: { min_seconds: 1, max_seconds: 60, default_seconds: 5 },
      retry_budget: { ratio: 0.2, minimum: 3 },
    });
    expect(result.config.health_check).toEqual({ enabled: true, interval: 15, timeout: 5, down_after: 3, up_after: 2 });
    expect(result.config.limits.max_body_bytes).toBe(10485760);
    expect(result.config.instances[0]).toMatchObject({ provider_type: "azure", api_version: "2024-10-21", enabled: true, model_deployments: {} });
    expect(Object.isFrozen(result.config.instances[0])).toBe(true);
  });

  it("reports every problem with file, path and reason", () => {
    const result = validate({
      port: "eighty",
      routing: { strategy: "random" },
      instances: [instance(), instance({ name: "west", api_base: "ftp://west", priority: -1, extra: 1 })],
    });
    if (result.ok) throw new Error("expected problems");
    const lines = result.problems.map(formatProblem);
    expect(lines).toContain("configs/base.yaml: port: expected integer");
    expect(lines).toContain('configs/base.yaml: routing.strategy: expected one of "failover", "weighted", "round_robin", "composite", "latency"');
    expect(lines).toContain("configs/base.yaml: instances[1].priority: expected integer to be greater or equal to 0");
    expect(lines).toContain("configs/base.yaml: instances[1].extra: unknown key");
  });

  it("rejects a non-http api_base by path", () => {
    const result = validate({ instances: [instance(), instance({ name: "west", api_base: "ftp://west" })] });
    if (result.ok) throw new Error("expected problems");
    expect(result.problems).toEqual([{ file: "configs/base.yaml", path: "instances[1].api_base", reason: "expected an http(s) URL" }]);
  });

  it("skips an instance whose key or base interpolated to empty, naming the missing variable", () => {
    const result = validate(
      { instances: [instance({ name: "east", api_key: "" }), instance({ name: "west" })] },
      [{ path: "instances[0].api_key", variable: "AZURE_API_KEY_EAST" }],
    );
    if (!result.ok) throw new Error("expected ok");
    expect(result.config.instances.map((i) => i.name)).toEqual(["west"]);
    expect(result.warnings).toEqual(['instance "east" (instances[0]) skipped: AZURE_API_KEY_EAST not set']);
  });

  it("keeps the file's index in problems after skipping an earlier instance", () => {
    const result = validate({ instances: [instance({ name: "east", api_base: "" }), instance({ name: "west", api_base: "nope" })] });
    if (result.ok) throw new Error("expected problems");
    expect(result.problems.map((p) => p.path)).toEqual(["instances[1].api_base"]);
  });

  it("rejects duplicate names and a repeated client key without printing the key", () => {
    const result = validate({
      auth: { api_keys: [{ name: "a", key: "sk-same-secret" }, { name: "a", key: "sk-same-secret" }] },
      instances: [instance(), instance()],
    });
    if (result.ok) throw new Error("expected problems");
    const text = result.problems.map(formatProblem).join("\n");
    expect(text).toContain('instances[1].name: duplicate instance name "east"');
    expect(text).toContain('auth.api_keys[1].name: duplicate key name "a"');
    expect(text).toContain("auth.api_keys[1].key: the same key is configured twice");
    expect(text).not.toContain("sk-same-secret");
  });

  it("rejects a deployment mapping for a model the instance does not list", () => {
    const result = validate({ instances: [instance({ model_deployments: { "gpt-4": "dep" } })] });
    if (result.ok) throw new Error("expected problems");
    expect(result.problems.map((p) => p.reason)).toEqual(['model "gpt-4" is not in supported_models']);
  });
});
