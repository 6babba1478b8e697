// Two proxy replicas on one real redis-server share cooldowns and circuits.
import { describe, expect, it } from "bun:test";
import OpenAI from "openai";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { startRedisServer, subscribersOf } from "../_support/redis-server.ts";
import { until } from "../_support/until.ts";

describe("health shared through Redis", () => {
  it("keeps the second replica off an instance the first saw answer 429", async () => {
    await using redis = await startRedisServer();
    await using east = await startFakeAzure();
    await using west = await startFakeAzure();
    const config = {
      redis: { url: redis.url },
      health_check: { enabled: false },
      instances: azureInstances([
        { url: east.url, apiKey: east.apiKey, name: "east" },
        { url: west.url, apiKey: west.apiKey, name: "west" },
      ]),
    };
    await using one = await startProxy({ config });
    await using two = await startProxy({ config });
    const chat = (url: string) =>
      new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0 }).chat.completions.create({
        model: "gpt-4o",
        messages: [{ role: "user", content: "Hi" }],
      });
    // Wait until both replicas' subscriptions are live, so the test measures propagation, not start-up.
    await until(async () => (await subscribersOf(redis, "aoai-proxy:health")) === 2);

    east.enqueue({ kind: "status", status: 429, headers: { "retry-after": "30" } });
    await chat(one.url);
    expect(east.requests).toHaveLength(1);
    await until(() => two.fleet.health.get("east").cooldownUntil > Date.now() + 25_000, { timeoutMs: 1000 });
    await chat(two.url);
    expect(east.requests).toHaveLength(1);
    expect(two.records.at(-1)).toMatchObject({ instance: "west", attempts: 1 });
  });

  it("lets a replica that starts later catch up on a cooldown in force", async () => {
    await using redis = await startRedisServer();
    await using east = await startFakeAzure();
    await using west = await startFakeAzure();
    const config = {
      redis: { url: redis.url },
      health_check: { enabled: false },
      instances: azureInstances([
        { url: east.url, apiKey: east.apiKey, name: "east" },
        { url: west.url, apiKey: west.apiKey, name: "west" },
      ]),
    };
    await using one = await startProxy({ config });
    await until(async () => (await subscribersOf(redis, "aoai-proxy:health")) === 1);
    east.enqueue({ kind: "status", status: 429, headers: { "retry-after": "30" } });
    await new OpenAI({ baseURL: `${one.url}/v1`, apiKey: "x", maxRetries: 0 }).chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "Hi" }],
    });
    await until(async () => (await redis.cli(["EXISTS", "aoai-proxy:{health}:east"])).trim() === "1");
    await using late = await startProxy({ config });
    await until(() => late.fleet.health.availability("east").available === false, { timeoutMs: 2000 });
  });
});
