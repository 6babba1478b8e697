// SIGTERM on the real entry point: /health drains, new connections are refused, open streams finish or end with an error frame.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLifecycle } from "../../server/lifecycle.ts";
import { startFakeAzure, type FakeAzure } from "../_support/fake-azure.ts";
import { spawnProxy } from "../_support/process.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

// bunfig.toml has no per-test timeout setting: child processes and servers on a busy 2-core machine need more than 5 s.
setDefaultTimeout(20_000);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function configFor(fake: FakeAzure, drainSeconds?: number): { dir: string; database: string } {
  const dir = mkdtempSync(join(tmpdir(), "proxy-shutdown-"));
  dirs.push(dir);
  const database = join(dir, "stats.db");
  writeFileSync(
    join(dir, "base.yaml"),
    [
      // An hour between flushes: only the shutdown flush writes rows.
      `stats: { database: "${database}", flush_interval: 3600 }`,
      "health_check: { enabled: false }",
      ...(drainSeconds === undefined ? [] : [`shutdown: { drain_seconds: ${drainSeconds} }`]),
      "instances:",
      `  - { name: east, api_key: "${fake.apiKey}", api_base: "${fake.url}", supported_models: [gpt-4o] }`,
      "",
    ].join("\n"),
  );
  return { dir, database };
}

const WORDS = Array.from({ length: 16 }, (_, index) => `word${index}`).join(" ");

/** Starts a streamed chat and resolves once its headers (and so its first content) have arrived. */
async function openStream(url: string): Promise<Response> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], stream: true }),
  });
  expect(response.status).toBe(200);
  return response;
}

function statsRows(database: string): Array<{ status: number; error_code: string | null }> {
  const client = new Database(database, { readonly: true });
  try {
    return client.query("SELECT status, error_code FROM requests").all() as Array<{ status: number; error_code: string | null }>;
  } finally {
    client.close();
  }
}

async function isRefused(url: string): Promise<boolean> {
  return fetch(`${url}/health`).then(
    () => false,
    () => true,
  );
}

describe("graceful shutdown", () => {
  it("lets 50 in-flight streams finish with [DONE] on SIGTERM, refuses new connections, writes 50 rows and exits 0", async () => {
    await using fake = await startFakeAzure({ content: WORDS });
    fake.setDefault({ kind: "slow-stream", intervalMs: 200 });
    const { dir, database } = configFor(fake);
    const proxy = await spawnProxy(["--config", dir], {});
    const responses = await Promise.all(Array.from({ length: 50 }, () => openStream(proxy.url)));
    const bodies = Promise.all(responses.map((response) => response.text()));
    proxy.process.kill("SIGTERM");
    await until(() => isRefused(proxy.url), { timeoutMs: 2000, message: "new connections refused while draining" });
    const texts = await bodies;
    for (const text of texts) {
      expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
      expect(text).toContain("word15");
      expect(text).not.toContain('"error"');
    }
    expect(await proxy.process.exited).toBe(0);
    const rows = statsRows(database);
    expect(rows).toHaveLength(50);
    expect(rows.every((row) => row.status === 200)).toBe(true);
    expect(proxy.output()).toContain('"msg":"stopped","drained":true');
  });

  it("ends a stream still open at the drain deadline with an SSE error frame, records it, and exits 0", async () => {
    await using fake = await startFakeAzure({ content: WORDS });
    // About 16 s of stream against a one-second drain.
    fake.setDefault({ kind: "slow-stream", intervalMs: 1000 });
    const { dir, database } = configFor(fake, 1);
    const proxy = await spawnProxy(["--config", dir], {});
    const response = await openStream(proxy.url);
    proxy.process.kill("SIGTERM");
    const text = await response.text();
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(false);
    const frames = text.trim().split("\n\n");
    expect(JSON.parse(frames.at(-1)!.replace(/^data: /, ""))).toEqual({
      error: {
        message: "The proxy is shutting down and stopped this stream before it finished.",
        type: "server_error",
        param: null,
        code: "server_shutting_down",
      },
    });
    expect(await proxy.process.exited).toBe(0);
    expect(statsRows(database)).toEqual([{ status: 503, error_code: "server_shutting_down" }]);
    await until(() => fake.requests[0]?.aborted === true, { message: "upstream stream cancelled" });
    expect(proxy.output()).toContain('"msg":"drain deadline passed: stopping the requests still open","open":1');
  });

  it("answers requests still waiting for an upstream at the deadline with 503 server_shutting_down, recorded as such", async () => {
    await using fake = await startFakeAzure();
    fake.setDefault({ kind: "hang" });
    const { dir, database } = configFor(fake, 1);
    const proxy = await spawnProxy(["--config", dir], {});
    const waiting = [false, true].map((stream) =>
      fetch(`${proxy.url}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], stream }),
      }),
    );
    await until(() => fake.requests.length === 2);
    proxy.process.kill("SIGTERM");
    for (const response of await Promise.all(waiting)) {
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({
        error: {
          message: "The proxy is shutting down and stopped this request before an answer arrived.",
          type: "server_error",
          param: null,
          code: "server_shutting_down",
        },
      });
    }
    expect(await proxy.process.exited).toBe(0);
    expect(statsRows(database)).toEqual([
      { status: 503, error_code: "server_shutting_down" },
      { status: 503, error_code: "server_shutting_down" },
    ]);
    // The upstream calls were given up, and no instance was blamed for it.
    await until(() => fake.requests.every((request) => request.aborted));
    expect(proxy.output()).not.toContain("instance state changed");
  });

  it("handles a SIGTERM sent the moment the listening line appears", async () => {
    await using fake = await startFakeAzure();
    const { dir } = configFor(fake);
    const proxy = await spawnProxy(["--config", dir], {});
    proxy.process.kill("SIGTERM");
    expect(await proxy.process.exited).toBe(0);
    expect(proxy.output()).toContain('"msg":"stopped","drained":true');
  });

  it("exits at once on a second signal, without waiting for open streams", async () => {
    await using fake = await startFakeAzure({ content: WORDS });
    fake.setDefault({ kind: "slow-stream", intervalMs: 1000 });
    const { dir } = configFor(fake);
    const proxy = await spawnProxy(["--config", dir], {});
    const response = await openStream(proxy.url);
    const body = response.text().catch(() => "(connection cut)");
    proxy.process.kill("SIGTERM");
    await until(() => proxy.output().includes('"msg":"draining"'));
    proxy.process.kill("SIGINT");
    expect(await proxy.process.exited).toBe(1);
    expect(await body).not.toContain("[DONE]");
    expect(proxy.output()).toContain('"msg":"second signal: exiting without waiting","signal":"SIGINT"');
  });
});

describe("/health while draining", () => {
  it("answers 503 draining as soon as the drain starts, while proxied requests still work", async () => {
    await using fake = await startFakeAzure();
    const lifecycle = createLifecycle();
    await using proxy = await startProxy({ lifecycle, config: { instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]) } });
    expect((await fetch(`${proxy.url}/health`)).status).toBe(200);
    lifecycle.startDraining();
    const health = await fetch(`${proxy.url}/health`);
    expect(health.status).toBe(503);
    expect(health.headers.get("cache-control")).toBe("no-store");
    expect(await health.json()).toEqual({ status: "draining", name: "Azure OpenAI Proxy" });
    const chat = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] }),
    });
    expect(chat.status).toBe(200);
  });
});
