// The real entry point as a user runs it: config directories, environment overlays, errors with exit code 2, the demo default.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { runToExit, spawnProxy } from "../_support/process.ts";

const dirs: string[] = [];
function configDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "proxy-config-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const baseYaml = `
name: "Test Proxy"
port: 8080
auth:
  api_keys:
    - { name: "team-a", key: "\${TEAM_A_KEY}" }
instances:
  - name: "primary"
    api_key: "\${AZURE_API_KEY_PRIMARY}"
    api_base: "\${AZURE_API_BASE_PRIMARY}"
    supported_models: ["gpt-4o"]
  - name: "secondary"
    api_key: "\${AZURE_API_KEY_SECONDARY}"
    api_base: "\${AZURE_API_BASE_SECONDARY:-}"
    supported_models: ["gpt-4o", "gpt-4o-mini"]
`;

describe("starting the proxy", () => {
  it("reports every config problem with file, path and reason, then exits 2 without printing secrets", async () => {
    const dir = configDir({
      "base.yaml": `port: 70000\nrouting: { strategy: "fastest" }\ninstances:\n  - { name: a, api_key: "sk-secret-in-file", api_base: "not a url", supported_models: [x] }\n`,
    });
    const { exitCode, stderr, stdout } = await runToExit(["--config", dir], {});
    expect(exitCode).toBe(2);
    expect(stderr).toContain(`${join(dir, "base.yaml")}: port: expected integer to be less or equal to 65535`);
    expect(stderr).toContain(`${join(dir, "base.yaml")}: routing.strategy: expected one of "failover", "weighted", "round_robin", "composite", "latency"`);
    expect(stderr).not.toContain("sk-secret-in-file");
    expect(stderr).not.toContain("    at ");
    expect(stdout).not.toContain("sk-secret-in-file");
  });

  it("names the environment file that set a bad value", async () => {
    const dir = configDir({ "base.yaml": baseYaml, "staging.yaml": `instances:\n  - { name: "primary", api_base: "ftp://x" }\n` });
    const { exitCode, stderr } = await runToExit(["-config", dir], {
      ENVIRONMENT: "staging",
      AZURE_API_KEY_PRIMARY: "k",
      AZURE_API_BASE_PRIMARY: "https://x.openai.azure.com",
    });
    expect(exitCode).toBe(2);
    expect(stderr).toContain(`${join(dir, "staging.yaml")}: instances[0].api_base: expected an http(s) URL`);
  });

  it("rejects unparsable YAML and a missing base.yaml", async () => {
    expect((await runToExit(["--config", configDir({ "base.yaml": "instances: [\n" })], {})).exitCode).toBe(2);
    const missing = await runToExit(["--config", configDir({})], {});
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("base.yaml: (file): not found");
  });

  it("loads base and environment files, skips unset instances with a warning, honours PORT, and serves the SDK", async () => {
    await using fake = await startFakeAzure();
    const dir = configDir({ "base.yaml": baseYaml, "staging.yaml": `routing: { retries: 1 }\n` });
    await using proxy = await spawnProxy(["--config", dir], {
      ENVIRONMENT: "staging",
      TEAM_A_KEY: "sk-team-a",
      AZURE_API_KEY_PRIMARY: fake.apiKey,
      AZURE_API_BASE_PRIMARY: fake.url,
    });
    expect(proxy.output()).toContain('instance \\"secondary\\" (instances[1]) skipped: AZURE_API_KEY_SECONDARY not set');
    const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "sk-team-a", maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] });
    expect(completion.choices[0]?.message.content).toBeString();
    expect(fake.requests).toHaveLength(1);
    const models = [];
    for await (const model of client.models.list()) models.push(model.id);
    expect(models).toEqual(["gpt-4o"]);
    expect(proxy.output()).not.toContain(fake.apiKey);
    expect(proxy.output()).not.toContain("sk-team-a");
  });

  it("takes the directory from CONFIG_DIR", async () => {
    const dir = configDir({ "base.yaml": "port: -1\n" });
    const { exitCode, stderr } = await runToExit([], { CONFIG_DIR: dir });
    expect(exitCode).toBe(2);
    expect(stderr).toContain(`${join(dir, "base.yaml")}: port:`);
  });

  it("starts the built-in Azure simulator when no instance is configured, and serves real SDK requests", async () => {
    await using proxy = await spawnProxy([], {});
    expect(proxy.output()).toContain("demo mode");
    const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "anything", maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    expect(text.length).toBeGreaterThan(0);
    const health = await fetch(`${proxy.url}/health`);
    expect(await health.json()).toMatchObject({ status: "ok", instances: 2 });
  });

  it("refuses to fall back to the demo in production", async () => {
    const { exitCode, stderr } = await runToExit(["--config", configDir({ "base.yaml": "instances: []\n" })], { ENVIRONMENT: "production" });
    expect(exitCode).toBe(2);
    expect(stderr).toContain("no usable instance configured");
  });
});
