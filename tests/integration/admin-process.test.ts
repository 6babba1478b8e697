// The real entry point: SIGHUP and config.watch reload the YAML; a rejected file leaves the running fleet serving.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeAzure, type FakeAzure } from "../_support/fake-azure.ts";
import { spawnProxy } from "../_support/process.ts";
import { until } from "../_support/until.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function yamlFor(fake: FakeAzure, names: string[], watch = false): string {
  const instances = names
    .map((name) => `  - { name: ${name}, api_key: "${fake.apiKey}", api_base: "${fake.url}", supported_models: [gpt-4o] }`)
    .join("\n");
  return `config: { watch: ${watch} }\nhealth_check: { enabled: false }\nstats: { enabled: false }\ninstances:\n${instances}\n`;
}

async function instanceNames(url: string): Promise<string[]> {
  // Loopback and no admin.token: the admin API answers without credentials.
  const response = await fetch(`${url}/admin/instances`);
  const body = (await response.json()) as { instances: Array<{ name: string }> };
  return body.instances.map((instance) => instance.name);
}

describe("reload in a running process", () => {
  it("re-reads the files on SIGHUP and keeps the running configuration when the new one is invalid", async () => {
    await using fake = await startFakeAzure();
    const dir = mkdtempSync(join(tmpdir(), "proxy-sighup-"));
    dirs.push(dir);
    const file = join(dir, "base.yaml");
    writeFileSync(file, yamlFor(fake, ["first"]));
    await using proxy = await spawnProxy(["--config", dir], {});
    expect(proxy.output()).toContain("answer only to loopback clients");
    expect(await instanceNames(proxy.url)).toEqual(["first"]);

    writeFileSync(file, yamlFor(fake, ["first", "second"]));
    proxy.process.kill("SIGHUP");
    await until(async () => (await instanceNames(proxy.url)).length === 2, { timeoutMs: 5000 });
    expect(await instanceNames(proxy.url)).toEqual(["first", "second"]);

    writeFileSync(file, "instances: [ { name: broken, api_key: k, api_base: not-a-url } ]\n");
    proxy.process.kill("SIGHUP");
    await until(() => proxy.output().includes("config reload rejected"), { timeoutMs: 5000 });
    expect(proxy.output()).toContain("instances[0].api_base");
    expect(await instanceNames(proxy.url)).toEqual(["first", "second"]);
    expect(proxy.process.exitCode).toBeNull();
  });

  it("reloads by itself when config.watch is on and a file changes", async () => {
    await using fake = await startFakeAzure();
    const dir = mkdtempSync(join(tmpdir(), "proxy-watch-"));
    dirs.push(dir);
    const file = join(dir, "base.yaml");
    writeFileSync(file, yamlFor(fake, ["first"], true));
    await using proxy = await spawnProxy(["--config", dir], {});
    writeFileSync(file, yamlFor(fake, ["first", "third"], true));
    await until(async () => (await instanceNames(proxy.url)).length === 2, { timeoutMs: 5000 });
    expect(await instanceNames(proxy.url)).toEqual(["first", "third"]);
  });
});

describe("shutdown with the event stream open", () => {
  it("ends open event streams so SIGTERM still exits promptly", async () => {
    await using fake = await startFakeAzure();
    const dir = mkdtempSync(join(tmpdir(), "proxy-sse-stop-"));
    dirs.push(dir);
    writeFileSync(join(dir, "base.yaml"), yamlFor(fake, ["first"]));
    await using proxy = await spawnProxy(["--config", dir], {});
    const stream = await fetch(`${proxy.url}/admin/events`);
    const reader = stream.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toStartWith("event: snapshot");
    proxy.process.kill("SIGTERM");
    const exited = await Promise.race([proxy.process.exited, new Promise((resolve) => setTimeout(() => resolve("still running"), 4000))]);
    expect(exited).toBe(0);
    expect((await reader.read()).done).toBe(true);
  });
});
