// No secret in any admin, stats or metrics answer (sentinel secrets, every body searched), and the security headers.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { openStats } from "../../server/stats/open.ts";
import { createLogger } from "../../server/log.ts";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { openEventStream } from "../_support/event-stream.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { findFreePort } from "../_support/redis-server.ts";
import { until } from "../_support/until.ts";

const SENTINELS = {
  east: "SENTINEL-east-instance-key-7f3a",
  west: "SENTINEL-west-instance-key-91c2",
  client: "SENTINEL-client-key-0d44",
  admin: "SENTINEL-admin-token-5e88",
  redisPassword: "SENTINEL-redis-password-aa17",
};
const auth = { authorization: `Bearer ${SENTINELS.admin}` };
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("secrets in admin answers", () => {
  it("never appear in any admin, stats, metrics or event-stream body, even after upstream errors quoting a key", async () => {
    await using east = await startFakeAzure({ apiKey: SENTINELS.east });
    await using west = await startFakeAzure({ apiKey: SENTINELS.west });
    const dir = mkdtempSync(join(tmpdir(), "proxy-secrets-"));
    dirs.push(dir);
    const stats = openStats({ enabled: true, database: join(dir, "stats.db"), retention_days: { raw: 7, rollups: 90 }, flush_interval: 0.05, max_queue: 1000 }, createLogger({ write: () => {} }));
    await using proxy = await startProxy({
      config: {
        admin: { token: SENTINELS.admin },
        auth: { api_keys: [{ name: "team", key: SENTINELS.client }] },
        // Nothing listens there: the limiter runs degraded, and the URL (with its password) is still configuration.
        redis: { url: `redis://user:${SENTINELS.redisPassword}@127.0.0.1:${findFreePort()}/0`, command_timeout_ms: 50 },
        health_check: { enabled: false },
        instances: azureInstances([
          { url: east.url, apiKey: east.apiKey, name: "east" },
          { url: west.url, apiKey: west.apiKey, name: "west" },
        ]),
      },
      stats: stats.deps,
    });
    try {
      await using stream = await openEventStream(`${proxy.url}/admin/events`, auth);
      const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: SENTINELS.client, maxRetries: 0 });
      // Upstream errors that quote the instance's key and host end up as last_error and request errors.
      east.enqueue({ kind: "status", status: 500, body: { error: { code: SENTINELS.east, message: `key ${SENTINELS.east} rejected` } } });
      await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
      east.enqueue({ kind: "status", status: 401, body: { error: { code: SENTINELS.east, message: SENTINELS.east } } });
      await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
      await client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "hi" }] }).catch(() => undefined);

      const bodies: string[] = [];
      const get = async (path: string, init: RequestInit = {}) => {
        const response = await fetch(`${proxy.url}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
        bodies.push(`${path}: ${[...response.headers].join(" ")} ${await response.text()}`);
        return response;
      };
      const lastError = (await (await fetch(`${proxy.url}/admin/instances`, { headers: auth })).json()) as {
        instances: Array<{ state: { last_error: { message: string } | null } }>;
      };
      expect(lastError.instances[0]?.state.last_error?.message).toContain("[redacted]");

      await get("/admin/instances");
      await get("/admin/config");
      await get("/admin/session");
      await get("/admin/instances/east/config", { method: "PUT", body: JSON.stringify({ weight: 2 }) });
      await get("/admin/instances/east/reset", { method: "POST" });
      await get("/admin/instances/east/config", { method: "DELETE" });
      await get("/admin/reload", { method: "POST" });
      await get("/admin/instances/nowhere/config", { method: "PUT", body: JSON.stringify({ weight: 2 }) });
      await get("/admin/instances", { headers: { authorization: "Bearer wrong" } });
      await get("/admin/login", { method: "POST", body: JSON.stringify({ token: "wrong" }) });
      await get("/health");
      await get("/metrics");
      await until(async () => ((await (await fetch(`${proxy.url}/stats/`, { headers: auth })).json()) as { requests: number }).requests >= 3);
      await get("/stats/");
      await get("/stats/instances?instance=east");
      await get("/stats/usage?metric=requests");
      await get("/stats/usage?metric=errors&key=team");
      for (let frame = 0; frame < 5; frame++) bodies.push(JSON.stringify(await stream.next(3000)));

      expect(bodies.join("\n")).toContain("…");
      for (const secret of Object.values(SENTINELS)) {
        for (const body of bodies) expect({ secret, found: body.includes(secret) ? body.slice(0, 200) : null }).toEqual({ secret, found: null });
      }
      for (const line of proxy.logLines) for (const secret of Object.values(SENTINELS)) expect(line).not.toContain(secret);
    } finally {
      stats.close();
    }
  });
});

describe("security headers", () => {
  it("sends nosniff, no-referrer and no-store on API answers, a CSP elsewhere, and CORS only for /v1 from listed origins", async () => {
    await using fake = await startFakeAzure();
    await using proxy = await startProxy({
      config: {
        admin: { token: SENTINELS.admin },
        cors: { origins: ["https://app.example.com"] },
        health_check: { enabled: false },
        instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]),
      },
    });
    const origin = { origin: "https://app.example.com" };
    for (const [path, headers] of [
      ["/health", {}],
      ["/admin/instances", auth],
      ["/admin/instances", {}],
      ["/v1/models", {}],
    ] as const) {
      const response = await fetch(`${proxy.url}${path}`, { headers: { ...headers, ...origin } });
      expect({ path, nosniff: response.headers.get("x-content-type-options"), referrer: response.headers.get("referrer-policy"), cache: response.headers.get("cache-control") }).toEqual({
        path,
        nosniff: "nosniff",
        referrer: "no-referrer",
        cache: "no-store",
      });
    }
    // The proxied endpoints are Bun's own routes, outside Elysia's hooks: they add the same headers themselves, on
    // answers and on errors alike (a trailing slash takes Elysia's route to the same handler).
    const body = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] });
    for (const [path, status, from] of [
      ["/v1/chat/completions", 200, origin.origin],
      ["/openai/deployments/no-such-model/chat/completions?api-version=2024-10-21", 404, origin.origin],
      ["/v1/chat/completions/", 200, origin.origin],
      ["/v1/chat/completions", 200, "https://evil.example.com"],
    ] as const) {
      const response = await fetch(`${proxy.url}${path}`, { method: "POST", headers: { "content-type": "application/json", origin: from }, body });
      expect({
        path,
        status: response.status,
        nosniff: response.headers.get("x-content-type-options"),
        referrer: response.headers.get("referrer-policy"),
        cache: response.headers.get("cache-control"),
        cors: response.headers.get("access-control-allow-origin"),
      }).toEqual({ path, status, nosniff: "nosniff", referrer: "no-referrer", cache: "no-store", cors: from === origin.origin ? from : null });
    }
    expect((await fetch(`${proxy.url}/admin/instances`, { headers: { ...auth, ...origin } })).headers.get("access-control-allow-origin")).toBeNull();
    expect((await fetch(`${proxy.url}/v1/models`, { headers: origin })).headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect((await fetch(`${proxy.url}/v1/models`, { headers: { origin: "https://evil.example.com" } })).headers.get("access-control-allow-origin")).toBeNull();

    const preflight = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: { ...origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(preflight.headers.get("access-control-allow-credentials")).toBeNull();
    const adminPreflight = await fetch(`${proxy.url}/admin/instances`, { method: "OPTIONS", headers: { ...origin, "access-control-request-method": "GET" } });
    expect(adminPreflight.headers.get("access-control-allow-origin")).toBeNull();

    // Answers that leave before any hook (unknown paths) carry the headers themselves.
    const unknown = await fetch(`${proxy.url}/no-such-page`);
    expect(unknown.status).toBe(404);
    expect([unknown.headers.get("x-content-type-options"), unknown.headers.get("referrer-policy")]).toEqual(["nosniff", "no-referrer"]);
  });
});
