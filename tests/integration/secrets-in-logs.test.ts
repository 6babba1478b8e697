// Sentinel secrets in the config, every error path exercised at debug level: none of them in any log line or response.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { spawnProxy } from "../_support/process.ts";
import { findFreePort } from "../_support/redis-server.ts";

// bunfig.toml has no per-test timeout setting: child processes and servers on a busy 2-core machine need more than 5 s.
setDefaultTimeout(20_000);

const INSTANCE_KEY = "az-SENTINEL-instance-key-1";
const DEAD_INSTANCE_KEY = "az-SENTINEL-instance-key-2";
const CLIENT_KEY = "sk-SENTINEL-client-key";
const ADMIN_TOKEN = "SENTINEL-admin-token";
const REDIS_PASSWORD = "SENTINEL-redis-pass";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("secrets in logs and responses", () => {
  it("never prints a configured secret, whatever fails, at debug level", async () => {
    await using fake = await startFakeAzure({ apiKey: INSTANCE_KEY });
    const dir = mkdtempSync(join(tmpdir(), "proxy-secrets-"));
    dirs.push(dir);
    writeFileSync(
      join(dir, "base.yaml"),
      [
        `stats: { database: "${join(dir, "stats.db")}" }`,
        "routing: { retries: 1, timeout: 0.5, first_token_timeout: 0.5 }",
        "health_check: { enabled: false }",
        `auth: { api_keys: [{ name: team-a, key: "${CLIENT_KEY}" }] }`,
        `admin: { token: "${ADMIN_TOKEN}" }`,
        // Nothing listens there: the limiter and health sync log their Redis failures.
        `redis: { url: "redis://:${REDIS_PASSWORD}@127.0.0.1:${findFreePort()}", command_timeout_ms: 50 }`,
        "limits: { max_body_bytes: 4096 }",
        "instances:",
        `  - { name: east, api_key: "${INSTANCE_KEY}", api_base: "${fake.url}", priority: 1, supported_models: [gpt-4o] }`,
        `  - { name: dead, api_key: "${DEAD_INSTANCE_KEY}", api_base: "http://127.0.0.1:${findFreePort()}", priority: 2, supported_models: [gpt-4o] }`,
        "",
      ].join("\n"),
    );
    const proxy = await spawnProxy(["--config", dir], { LOG_LEVEL: "debug" });
    const seen: string[] = [];
    const send = async (body: string | object, headers: Record<string, string> = { authorization: `Bearer ${CLIENT_KEY}` }, path = "/v1/chat/completions") => {
      const response = await fetch(`${proxy.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      seen.push(`${response.status} ${JSON.stringify([...response.headers])} ${await response.text()}`);
      return response.status;
    };
    const chat = { model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] };
    const echo = (status: number) => ({
      kind: "status" as const,
      status,
      body: { error: { code: String(status), message: `key ${INSTANCE_KEY} (also ${DEAD_INSTANCE_KEY}, ${CLIENT_KEY}) at ${fake.url}` } },
    });

    expect(await send(chat, { authorization: "Bearer sk-wrong" })).toBe(401);
    expect(await send(chat, {})).toBe(401);
    expect(await send("{not json")).toBe(400);
    expect(await send({ ...chat, model: "gpt-9" })).toBe(404);
    expect(await send({ ...chat, messages: [{ role: "user", content: "x".repeat(5000) }] })).toBe(413);
    fake.enqueue({ kind: "cut-stream", afterFrames: 4 });
    expect(await send({ ...chat, stream: true })).toBe(200);
    fake.enqueue({ kind: "raw", status: 200, headers: { "content-type": "application/json" }, body: '{"broken": ' });
    await send(chat);
    fake.enqueue(echo(400));
    expect(await send(chat)).toBe(400);
    // From here on the instance may be cooling down or its circuit open: any error will do, each is another path.
    for (const failure of [echo(401), echo(500), { kind: "hang" as const }, echo(429)]) {
      fake.enqueue(failure);
      expect(await send(chat)).toBeGreaterThanOrEqual(500);
    }
    for (const path of ["/health", "/metrics", "/stats/", "/v1/models"]) {
      const response = await fetch(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
      seen.push(`${response.status} ${JSON.stringify([...response.headers])} ${await response.text()}`);
    }
    proxy.process.kill("SIGTERM");
    await proxy.process.exited;
    const stderr = await new Response(proxy.process.stderr).text();
    const output = `${proxy.output()}\n${stderr}`;

    // The run was loud: access lines, the upstream failures and Redis being down are all in the output.
    expect(output.match(/"msg":"request"/g)?.length).toBe(12);
    expect(output).toContain("rate limiter: Redis unavailable");
    // Azure's 400 came back to the client with the echoed keys cut out.
    expect(seen.join("\n")).toContain("[redacted]");
    for (const text of [output, seen.join("\n")]) {
      expect(text.split("\n").filter((line) => line.includes("SENTINEL"))).toEqual([]);
    }
  });
});
