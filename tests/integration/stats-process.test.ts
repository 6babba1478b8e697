// The real entry point with a stats database: crash safety and the shutdown flush (the binary's migrations: single-binary.test.ts).
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { startFakeAzure, type FakeAzure } from "../_support/fake-azure.ts";
import { spawnProxy } from "../_support/process.ts";
import { until } from "../_support/until.ts";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "proxy-stats-process-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A config directory whose stats database lives in a fresh temp dir. */
function configFor(fake: FakeAzure, flushIntervalSec: number): { dir: string; database: string } {
  const dir = tempDir();
  const database = join(dir, "data", "stats.db");
  writeFileSync(
    join(dir, "base.yaml"),
    [
      `stats: { database: "${database}", flush_interval: ${flushIntervalSec} }`,
      "health_check: { enabled: false }",
      "instances:",
      `  - { name: east, api_key: "${fake.apiKey}", api_base: "${fake.url}", supported_models: [gpt-4o] }`,
      "",
    ].join("\n"),
  );
  return { dir, database };
}

async function sendTraffic(url: string, count: number): Promise<void> {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0 });
  const messages = [{ role: "user" as const, content: "Hi" }];
  await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      if (index % 2 === 0) return client.chat.completions.create({ model: "gpt-4o", messages });
      for await (const _chunk of await client.chat.completions.create({ model: "gpt-4o", messages, stream: true }));
    }),
  );
}

function countRequests(path: string): number {
  const client = new Database(path, { readonly: true });
  try {
    return (client.query("SELECT count(*) AS n FROM requests").get() as { n: number }).n;
  } finally {
    client.close();
  }
}

describe("stats across process lifetimes", () => {
  it("survives SIGKILL right after traffic: the file passes integrity_check and holds every flushed row", async () => {
    await using fake = await startFakeAzure();
    const { dir, database } = configFor(fake, 0.05);
    const proxy = await spawnProxy(["--config", dir], {});
    await sendTraffic(proxy.url, 20);
    await until(() => countRequests(database) === 20, { timeoutMs: 5000 });
    proxy.process.kill("SIGKILL");
    expect(await proxy.process.exited).not.toBe(0);
    const client = new Database(database);
    expect(client.query("PRAGMA integrity_check").all()).toEqual([{ integrity_check: "ok" }]);
    expect(client.query("SELECT count(*) AS n, sum(requests) AS rolled FROM rollups WHERE bucket_sec = 60").get()).toMatchObject({ rolled: 20 });
    expect(client.query("SELECT count(*) AS n FROM requests").get()).toEqual({ n: 20 });
    client.close();
  });

  it("loses nothing on SIGTERM: the queue is flushed before exit", async () => {
    await using fake = await startFakeAzure();
    // An hour between flushes: only the shutdown flush can write these rows.
    const { dir, database } = configFor(fake, 3600);
    const proxy = await spawnProxy(["--config", dir], {});
    await sendTraffic(proxy.url, 20);
    expect(countRequests(database)).toBe(0);
    proxy.process.kill("SIGTERM");
    expect(await proxy.process.exited).toBe(0);
    expect(countRequests(database)).toBe(20);
    expect(proxy.output()).toContain('"msg":"statistics flushed","written":20,"dropped":0');
  });
});
