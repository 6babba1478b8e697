// Runtime overrides shared through a real redis-server: set on one replica, applied by every replica, and by later ones.
import { describe, expect, it } from "bun:test";
import OpenAI from "openai";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, startProxy, type TestProxy } from "../_support/proxy.ts";
import { startRedisServer, subscribersOf } from "../_support/redis-server.ts";
import { until } from "../_support/until.ts";

const ADMIN_TOKEN = "adm-redis-token-0123456789";
const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };

async function overridesOf(proxy: TestProxy, name: string): Promise<unknown> {
  const response = await fetch(`${proxy.url}/admin/instances`, { headers: auth });
  const body = (await response.json()) as { instances: Array<{ name: string; overrides: unknown }> };
  return body.instances.find((instance) => instance.name === name)?.overrides;
}

describe("overrides shared through Redis", () => {
  it("applies an override set on one replica on every replica, and a drop too", async () => {
    await using redis = await startRedisServer();
    await using east = await startFakeAzure();
    await using west = await startFakeAzure();
    const config = {
      admin: { token: ADMIN_TOKEN },
      redis: { url: redis.url },
      health_check: { enabled: false },
      instances: azureInstances([
        { url: east.url, apiKey: east.apiKey, name: "east" },
        { url: west.url, apiKey: west.apiKey, name: "west" },
      ]),
    };
    await using one = await startProxy({ config });
    await using two = await startProxy({ config });
    await until(async () => (await subscribersOf(redis, "aoai-proxy:overrides")) === 2);

    const put = await fetch(`${one.url}/admin/instances/east/config`, { method: "PUT", headers: auth, body: JSON.stringify({ enabled: false }) });
    expect(put.status).toBe(200);
    await until(async () => JSON.stringify(await overridesOf(two, "east")) === JSON.stringify({ enabled: false }));
    await new OpenAI({ baseURL: `${two.url}/v1`, apiKey: "x", maxRetries: 0 }).chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "Hi" }],
    });
    expect(two.records.at(-1)?.instance).toBe("west");
    expect(east.requests).toHaveLength(0);

    // A replica started later adopts what is in force.
    await using three = await startProxy({ config });
    await until(async () => JSON.stringify(await overridesOf(three, "east")) === JSON.stringify({ enabled: false }));

    expect((await fetch(`${two.url}/admin/instances/east/config`, { method: "DELETE", headers: auth })).status).toBe(200);
    await until(async () => (await overridesOf(one, "east")) === null);
    await until(async () => (await overridesOf(three, "east")) === null);
  });

  it("still resets and overrides while Redis is down, and logs what could not be shared", async () => {
    await using redis = await startRedisServer();
    await using east = await startFakeAzure();
    await using proxy = await startProxy({
      config: {
        admin: { token: ADMIN_TOKEN },
        redis: { url: redis.url },
        health_check: { enabled: false },
        instances: azureInstances([{ url: east.url, apiKey: east.apiKey, name: "east", max_rpm: 10 }]),
      },
    });
    await until(async () => (await subscribersOf(redis, "aoai-proxy:overrides")) === 1);
    await redis.kill();
    await until(async () => ((await (await fetch(`${proxy.url}/health`)).json()) as { limiter: { degraded: boolean } }).limiter.degraded, { timeoutMs: 5000 });

    const reset = await fetch(`${proxy.url}/admin/instances/east/reset`, { method: "POST", headers: auth });
    expect(reset.status).toBe(200);
    expect(proxy.logLines.some((line) => line.includes("limiter window could not be cleared in Redis"))).toBe(true);

    const put = await fetch(`${proxy.url}/admin/instances/east/config`, { method: "PUT", headers: auth, body: JSON.stringify({ weight: 2 }) });
    expect(put.status).toBe(200);
    expect(await overridesOf(proxy, "east")).toEqual({ weight: 2 });
    await until(() => proxy.logLines.some((line) => line.includes("could not share a change through Redis")), { timeoutMs: 5000 });
  });

  it("logs and carries on when the shared set in Redis cannot be read, and ignores messages it cannot parse", async () => {
    await using redis = await startRedisServer();
    await using east = await startFakeAzure();
    // Something else holds the key with the wrong type: every read of it fails with WRONGTYPE.
    await redis.cli(["SET", "aoai-proxy:{overrides}", "not a hash"]);
    await using proxy = await startProxy({
      config: {
        admin: { token: ADMIN_TOKEN },
        redis: { url: redis.url },
        health_check: { enabled: false },
        instances: azureInstances([{ url: east.url, apiKey: east.apiKey, name: "east" }]),
      },
    });
    await until(() => proxy.logLines.some((line) => line.includes("could not read the shared set from Redis")), { timeoutMs: 5000 });
    await until(async () => (await subscribersOf(redis, "aoai-proxy:overrides")) === 1);
    await redis.cli(["PUBLISH", "aoai-proxy:overrides", "garbage"]);
    await redis.cli(["PUBLISH", "aoai-proxy:overrides", JSON.stringify({ replica: "another", instance: "east" })]);
    await until(() => proxy.logLines.some((line) => line.includes("could not read a change from Redis")), { timeoutMs: 5000 });
    expect(await overridesOf(proxy, "east")).toBeNull();
  });
});
