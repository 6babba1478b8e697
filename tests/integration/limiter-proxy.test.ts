// The limiter on the real request path: client-key limits, instance budgets, headers, reconciliation, replicas, outages.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { spawnProxy } from "../_support/process.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { startRedisServer } from "../_support/redis-server.ts";
import { until } from "../_support/until.ts";

const KEY = "sk-limited-client";
const chatBody = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], max_tokens: 10, ...extra });
const post = (url: string, body = chatBody(), key = KEY) =>
  fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}` }, body });

describe("client key limits", () => {
  it("answers 429 with Retry-After once the key's rpm is spent, and the SDK sees OpenAI's headers", async () => {
    await using fake = await startFakeAzure();
    await using proxy = await startProxy({
      config: {
        health_check: { enabled: false },
        auth: { api_keys: [{ name: "team-a", key: KEY, rpm: 3, tpm: 100_000 }] },
        instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]),
      },
    });
    const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const { response } = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], max_tokens: 10 }).withResponse();
    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("3");
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("2");
    expect(response.headers.get("x-ratelimit-limit-tokens")).toBe("100000");
    expect(Number(response.headers.get("x-ratelimit-remaining-tokens"))).toBeLessThan(100_000);
    expect(response.headers.get("x-ratelimit-reset-requests")).toMatch(/^\d+(\.\d+)?m?s|\dm/);
    expect((await post(proxy.url)).status).toBe(200);
    expect((await post(proxy.url)).status).toBe(200);
    const refused = await post(proxy.url);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get("retry-after-ms"))).toBeGreaterThan(0);
    expect(refused.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("rate_limit_exceeded");
    // The refused request never reached Azure.
    expect(fake.requests).toHaveLength(3);
  });

  it("rejects at once with 400 a request that could never fit the key's tpm", async () => {
    await using fake = await startFakeAzure();
    await using proxy = await startProxy({
      config: {
        health_check: { enabled: false },
        auth: { api_keys: [{ name: "small", key: KEY, tpm: 100 }] },
        instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]),
      },
    });
    const response = await post(proxy.url, chatBody({ max_tokens: 500 }));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("tokens_exceed_limit");
    expect(fake.requests).toHaveLength(0);
  });
});

describe("instance budgets", () => {
  it("routes around an instance without headroom and answers 429 before Azure would when none has any", async () => {
    await using east = await startFakeAzure();
    await using west = await startFakeAzure();
    await using proxy = await startProxy({
      config: {
        health_check: { enabled: false },
        instances: azureInstances([
          { url: east.url, apiKey: east.apiKey, name: "east", max_tpm: 1200 },
          { url: west.url, apiKey: west.apiKey, name: "west", max_tpm: 1200 },
        ]),
      },
    });
    // Calls held in flight keep their ~510-token reservations: two fit in each 1200-token window.
    east.setDefault({ kind: "delay", ms: 300 });
    west.setDefault({ kind: "delay", ms: 300 });
    const body = chatBody({ max_tokens: 500 });
    const responses = await Promise.all(Array.from({ length: 6 }, () => post(proxy.url, body)));
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    expect(east.requests).toHaveLength(2);
    expect(west.requests).toHaveLength(2);
    const refused = responses.find((response) => response.status === 429)!;
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("rate_limit_exceeded");
  });

  it("reconciles to real usage after success and refunds a 5xx", async () => {
    await using fake = await startFakeAzure();
    await using proxy = await startProxy({
      config: {
        health_check: { enabled: false },
        auth: { api_keys: [{ name: "team-a", key: KEY, tpm: 10_000 }] },
        instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]),
      },
    });
    const remaining = async (response: Response) => Number(response.headers.get("x-ratelimit-remaining-tokens"));
    const first = await post(proxy.url, chatBody({ max_tokens: 2000 }));
    const usage = ((await first.json()) as { usage: { total_tokens: number } }).usage.total_tokens;
    // The header is taken at admission (the full 2000-token reservation is still held)…
    expect(await remaining(first)).toBeLessThanOrEqual(10_000 - 2000);
    // …and by the next call the reservation has been replaced by the real usage.
    await until(async () => (await remaining(await post(proxy.url, chatBody({ max_tokens: 1 }))) > 10_000 - usage - 200));
    const before = await remaining(await post(proxy.url, chatBody({ max_tokens: 1 })));
    fake.enqueue({ kind: "status", status: 500 });
    expect((await post(proxy.url, chatBody({ max_tokens: 3000 }))).status).toBe(502);
    const after = await remaining(await post(proxy.url, chatBody({ max_tokens: 1 })));
    // The refunded 3000-token reservation is back; only the small probe calls moved the window.
    expect(before - after).toBeLessThan(100);
  });
});

describe("client aborts", () => {
  it("charges a stream abandoned mid-answer for what was streamed, not its whole reservation", async () => {
    await using fake = await startFakeAzure();
    await using proxy = await startProxy({
      config: {
        health_check: { enabled: false },
        auth: { api_keys: [{ name: "team-a", key: KEY, tpm: 10_000 }] },
        instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]),
      },
    });
    fake.enqueue({ kind: "slow-stream", intervalMs: 100 });
    const controller = new AbortController();
    const response = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}` },
      body: chatBody({ stream: true, max_tokens: 4000 }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    let seen = "";
    while ((seen.match(/"content":"[^"]+"/g) ?? []).length < 3) seen += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    await until(() => proxy.records.length === 1);
    const record = proxy.records[0]!;
    expect(record).toMatchObject({ status: 499, clientAborted: true, usageSource: "estimated" });
    expect(record.usage!.completion_tokens).toBeGreaterThanOrEqual(3);
    expect(record.usage!.completion_tokens).toBeLessThan(10);
    const next = await post(proxy.url, chatBody({ max_tokens: 1 }));
    // Charged ~prompt + a few streamed tokens, not the 4000 reserved.
    expect(Number(next.headers.get("x-ratelimit-remaining-tokens"))).toBeGreaterThan(10_000 - 100);
  });
});

describe("two proxy processes sharing one Redis", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it("admits exactly the key's rpm across both, for 100 concurrent requests", async () => {
    await using redis = await startRedisServer();
    await using fake = await startFakeAzure();
    const dir = mkdtempSync(join(tmpdir(), "proxy-replicas-"));
    dirs.push(dir);
    writeFileSync(
      join(dir, "base.yaml"),
      [
        `redis: { url: "${redis.url}" }`,
        `health_check: { enabled: false }`,
        `auth: { api_keys: [{ name: "shared", key: "${KEY}", rpm: 20 }] }`,
        `instances:`,
        `  - { name: east, api_key: "${fake.apiKey}", api_base: "${fake.url}", supported_models: [gpt-4o] }`,
      ].join("\n"),
    );
    await using one = await spawnProxy(["--config", dir], {});
    await using two = await spawnProxy(["--config", dir], {});
    for (const replica of [one, two]) {
      await until(async () => ((await (await fetch(`${replica.url}/health`)).json()) as { limiter: { mode: string } }).limiter.mode === "redis");
    }
    const statuses = await Promise.all(Array.from({ length: 100 }, (_, i) => post((i % 2 === 0 ? one : two).url).then((r) => r.status)));
    expect(statuses.filter((status) => status === 200)).toHaveLength(20);
    expect(statuses.filter((status) => status === 429)).toHaveLength(80);
    expect(fake.requests).toHaveLength(20);
  }, 20_000);
});

describe("Redis outages", () => {
  it("keeps serving without slowing down when Redis dies, reports degraded, and recovers", async () => {
    await using redis = await startRedisServer();
    await using fake = await startFakeAzure();
    await using proxy = await startProxy({
      config: {
        redis: { url: redis.url },
        health_check: { enabled: false },
        auth: { api_keys: [{ name: "team-a", key: KEY, rpm: 10_000 }] },
        instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]),
      },
    });
    const health = async () => (await (await fetch(`${proxy.url}/health`)).json()) as { status: string; limiter: { mode: string; degraded: boolean } };
    await until(async () => (await health()).limiter.mode === "redis");
    await redis.kill();
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      expect((await post(proxy.url)).status).toBe(200);
      latencies.push(performance.now() - started);
    }
    expect(Math.max(...latencies)).toBeLessThan(250);
    expect(await health()).toMatchObject({ status: "degraded", limiter: { mode: "local", degraded: true } });
    await redis.restart();
    await until(async () => (await health()).limiter.mode === "redis", { timeoutMs: 5000 });
    expect((await health()).status).toBe("ok");
  });

  it("does not hold requests when Redis is paused (black-holed)", async () => {
    await using redis = await startRedisServer();
    await using fake = await startFakeAzure();
    await using proxy = await startProxy({
      config: {
        redis: { url: redis.url },
        health_check: { enabled: false },
        auth: { api_keys: [{ name: "team-a", key: KEY, rpm: 10_000 }] },
        instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]),
      },
    });
    await until(async () => ((await (await fetch(`${proxy.url}/health`)).json()) as { limiter: { mode: string } }).limiter.mode === "redis");
    redis.pause();
    try {
      for (let i = 0; i < 5; i++) {
        const started = performance.now();
        expect((await post(proxy.url)).status).toBe(200);
        expect(performance.now() - started).toBeLessThan(250);
      }
    } finally {
      redis.resume();
    }
  });
});
