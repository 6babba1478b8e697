// The admin API over real HTTP: auth on every route, instance views, runtime overrides (persisted), reset, login sessions.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { createLogger } from "../../server/log.ts";
import { openStats } from "../../server/stats/open.ts";
import { startFakeAzure, type FakeAzure } from "../_support/fake-azure.ts";
import { createApp } from "../../server/app.ts";
import { azureInstances, buildConfig, startProxy, type TestProxy, type TestProxyOptions } from "../_support/proxy.ts";

const ADMIN_TOKEN = "adm-token-0123456789-sentinel";
const CLIENT_KEY = "sk-client-0123456789-sentinel";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "proxy-admin-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

type Fleet = AsyncDisposable & { east: FakeAzure; west: FakeAzure; proxy: TestProxy };

/** Two instances in failover order (east first), an admin token, one client key. */
async function startFleet(options: { databasePath?: string; adminToken?: string; extra?: Partial<TestProxyOptions>; config?: Record<string, unknown> } = {}): Promise<Fleet> {
  const east = await startFakeAzure({ apiKey: "east-instance-key-sentinel" });
  const west = await startFakeAzure({ apiKey: "west-instance-key-sentinel" });
  const stats = options.databasePath
    ? openStats({ enabled: true, database: options.databasePath, retention_days: { raw: 7, rollups: 90 }, flush_interval: 1, max_queue: 1000 }, createLogger({ write: () => {} }))
    : null;
  const proxy = await startProxy({
    config: {
      admin: { token: options.adminToken ?? ADMIN_TOKEN },
      auth: { api_keys: [{ name: "team", key: CLIENT_KEY }] },
      health_check: { enabled: false },
      instances: azureInstances([
        { url: east.url, apiKey: east.apiKey, name: "east" },
        { url: west.url, apiKey: west.apiKey, name: "west" },
      ]),
      ...options.config,
    },
    ...(stats ? { stats: stats.deps } : {}),
    ...options.extra,
  });
  return {
    east,
    west,
    proxy,
    async [Symbol.asyncDispose]() {
      await proxy[Symbol.asyncDispose]();
      stats?.close();
      await Promise.all([east[Symbol.asyncDispose](), west[Symbol.asyncDispose]()]);
    },
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function admin(proxy: TestProxy, method: string, path: string, body?: unknown, headers: Record<string, string> = bearer(ADMIN_TOKEN)) {
  const response = await fetch(`${proxy.url}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON (metrics, empty 204): the text is there.
  }
  return { status: response.status, headers: response.headers, text, json };
}

const chat = (proxy: TestProxy) =>
  new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 }).chat.completions.create({
    model: "gpt-4o",
    messages: [{ role: "user", content: "hi" }],
  });

type View = {
  name: string;
  enabled: boolean;
  weight: number;
  overrides: Record<string, unknown> | null;
  drift: string[];
  file: Record<string, unknown>;
  api_key_masked: string;
  state: { status: string; cooldown_until: number | null; cooldown_reason: string | null; limiter: { requests_used: number } };
};
async function views(proxy: TestProxy): Promise<Record<string, View>> {
  const { json } = await admin(proxy, "GET", "/admin/instances");
  return Object.fromEntries((json as { instances: View[] }).instances.map((view) => [view.name, view]));
}

/** Every admin-guarded route with a request that succeeds given the right credentials. */
const ROUTES: Array<{ method: string; path: string; body?: unknown; ok: number }> = [
  { method: "GET", path: "/admin/instances", ok: 200 },
  { method: "POST", path: "/admin/instances/east/reset", ok: 200 },
  { method: "PUT", path: "/admin/instances/east/config", body: { weight: 2 }, ok: 200 },
  { method: "DELETE", path: "/admin/instances/east/config", ok: 200 },
  { method: "GET", path: "/admin/config", ok: 200 },
  { method: "POST", path: "/admin/reload", ok: 400 /* built from memory: nothing to reload, but past the guard */ },
  { method: "GET", path: "/admin/session", ok: 200 },
  { method: "POST", path: "/admin/logout", ok: 204 },
  { method: "GET", path: "/stats/", ok: 503 /* no database in this fleet: past the guard */ },
  { method: "GET", path: "/stats/usage?metric=requests", ok: 503 },
  { method: "GET", path: "/stats/instances?instance=east", ok: 503 },
  { method: "GET", path: "/metrics", ok: 200 },
  { method: "GET", path: "/admin/no-such-route", ok: 404 },
];

describe("admin authentication", () => {
  it("refuses every admin route without the token, with a wrong one, with a client key or with the token in the query", async () => {
    await using fleet = await startFleet();
    const { proxy } = fleet;
    for (const route of ROUTES) {
      const refused = [
        await admin(proxy, route.method, route.path, route.body, {}),
        await admin(proxy, route.method, route.path, route.body, bearer("adm-wrong-token")),
        await admin(proxy, route.method, route.path, route.body, bearer(CLIENT_KEY)),
        await admin(proxy, route.method, `${route.path}${route.path.includes("?") ? "&" : "?"}token=${ADMIN_TOKEN}`, route.body, {}),
        await admin(proxy, route.method, `${route.path}${route.path.includes("?") ? "&" : "?"}token=${ADMIN_TOKEN}`, route.body, bearer(ADMIN_TOKEN)),
      ];
      for (const answer of refused) {
        expect({ route: route.path, status: answer.status }).toEqual({ route: route.path, status: 401 });
        expect((answer.json as { error: { code: string; type: string } }).error).toMatchObject({ code: "invalid_admin_token", type: "invalid_request_error" });
      }
      const allowed = await admin(proxy, route.method, route.path, route.body);
      expect({ route: route.path, status: allowed.status }).toEqual({ route: route.path, status: route.ok });
      const viaHeader = await admin(proxy, route.method, route.path, route.body, { "x-admin-token": ADMIN_TOKEN });
      expect({ route: route.path, status: viaHeader.status }).toEqual({ route: route.path, status: route.ok });
    }
    // The event stream too: refused without credentials, open with them.
    expect((await fetch(`${proxy.url}/admin/events`)).status).toBe(401);
    const stream = await fetch(`${proxy.url}/admin/events`, { headers: bearer(ADMIN_TOKEN) });
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    await stream.body?.cancel();
    // Spellings the router forgives are guarded too.
    for (const path of ["/metrics/", "/stats//", "/admin/instances/", "/admin/./instances"]) {
      expect({ path, status: (await admin(proxy, "GET", path, undefined, {})).status }).toEqual({ path, status: 401 });
    }
    // The admin token is not a client key either.
    const asClient = await fetch(`${proxy.url}/v1/models`, { headers: bearer(ADMIN_TOKEN) });
    expect(asClient.status).toBe(401);
  });

  it("throttles an address after ten failures, even when it then sends the right token", async () => {
    await using fleet = await startFleet();
    for (let attempt = 0; attempt < 10; attempt++) {
      expect((await admin(fleet.proxy, "GET", "/admin/instances", undefined, bearer(`wrong-${attempt}`))).status).toBe(401);
    }
    const throttled = await admin(fleet.proxy, "GET", "/admin/instances");
    expect(throttled.status).toBe(429);
    expect(throttled.json).toEqual({
      error: {
        message: "Too many failed admin authentications from this address; try again later.",
        type: "rate_limit_error",
        param: null,
        code: "too_many_admin_attempts",
      },
    });
    expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThan(0);
    // Login is throttled the same way.
    expect((await admin(fleet.proxy, "POST", "/admin/login", { token: ADMIN_TOKEN }, {})).status).toBe(429);
  });

  it("does not count a stale session or a missing credential as a guess, so a dashboard polling after a restart can still log in", async () => {
    await using fleet = await startFleet();
    for (let poll = 0; poll < 15; poll++) {
      expect((await admin(fleet.proxy, "GET", "/admin/instances", undefined, { cookie: "aop_admin=from-before-the-restart" })).status).toBe(401);
      expect((await admin(fleet.proxy, "GET", "/admin/events", undefined, {})).status).toBe(401);
    }
    expect((await admin(fleet.proxy, "POST", "/admin/login", { token: ADMIN_TOKEN }, {})).status).toBe(204);
  });

  it("trades the token for an HttpOnly SameSite=Strict session cookie that admin routes and the stream accept", async () => {
    await using fleet = await startFleet();
    const { proxy } = fleet;
    const wrong = await admin(proxy, "POST", "/admin/login", { token: "nope" }, {});
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    expect((await admin(proxy, "POST", "/admin/login", { token: CLIENT_KEY }, {})).status).toBe(401);
    expect((await admin(proxy, "POST", "/admin/login", "not json", {})).status).toBe(400);
    for (const body of [[ADMIN_TOKEN], { token: 5 }, { secret: ADMIN_TOKEN }, ""]) {
      expect({ body, status: (await admin(proxy, "POST", "/admin/login", body, {})).status }).toEqual({ body, status: body === "" ? 400 : 401 });
    }

    const login = await admin(proxy, "POST", "/admin/login", { token: ADMIN_TOKEN }, {});
    expect(login.status).toBe(204);
    const setCookie = login.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/^aop_admin=[A-Za-z0-9_-]{20,}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
    const cookie = { cookie: setCookie.split(";")[0]! };

    expect(await admin(proxy, "GET", "/admin/session", undefined, cookie)).toMatchObject({
      status: 200,
      json: { authenticated: true, name: "Azure OpenAI Proxy" },
    });
    expect((await admin(proxy, "GET", "/admin/instances", undefined, cookie)).status).toBe(200);
    const stream = await fetch(`${proxy.url}/admin/events`, { headers: cookie });
    expect(stream.status).toBe(200);
    await stream.body?.cancel();

    const logout = await admin(proxy, "POST", "/admin/logout", undefined, cookie);
    expect(logout.status).toBe(204);
    expect(logout.headers.get("set-cookie")).toContain("Max-Age=0");
    expect((await admin(proxy, "GET", "/admin/session", undefined, cookie)).status).toBe(401);
    expect((await admin(proxy, "GET", "/admin/instances", undefined, { cookie: "aop_admin=forged-session-id" })).status).toBe(401);
  });

  it("without a token answers loopback clients with no credentials, and says so at start", async () => {
    await using fleet = await startFleet({ adminToken: "" });
    expect((await admin(fleet.proxy, "GET", "/admin/instances", undefined, {})).status).toBe(200);
    expect((await admin(fleet.proxy, "GET", "/metrics", undefined, {})).status).toBe(200);
    expect((await admin(fleet.proxy, "POST", "/admin/login", { token: "anything" }, {})).status).toBe(204);
    expect(fleet.proxy.logLines.some((line) => line.includes("answer only to loopback clients"))).toBe(true);
    expect(fleet.proxy.logLines.some((line) => line.includes("runtime overrides last only until the process exits"))).toBe(true);
  });

  it("without a token refuses a caller that is not on the loopback interface", async () => {
    // A request handed to the app with no socket behind it has no loopback peer: the same path a remote caller takes.
    const app = createApp({ config: buildConfig({ health_check: { enabled: false } }), logger: createLogger({ write: () => {} }) });
    try {
      for (const path of ["/admin/instances", "/stats/", "/metrics"]) {
        const response = await app.handle(new Request(`http://192.0.2.10${path}`));
        expect({ path, status: response.status }).toEqual({ path, status: 403 });
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe("admin_loopback_only");
      }
      const login = await app.handle(new Request("http://192.0.2.10/admin/login", { method: "POST", body: JSON.stringify({ token: "x" }) }));
      expect(login.status).toBe(403);
      expect((await app.handle(new Request("http://192.0.2.10/health"))).status).toBe(200);
    } finally {
      // Never listened, so no onStop: release the hub's timers and the limiter here.
      await app.decorator.fleet.admin.stop();
      await app.decorator.fleet.limiter.close();
    }
  });

  it("with ENVIRONMENT=production and no token, the admin API does not exist", async () => {
    await using fleet = await startFleet({ adminToken: "", extra: { environment: "production" } });
    const refused = await admin(fleet.proxy, "GET", "/admin/instances", undefined, {});
    expect(refused.status).toBe(404);
    expect((refused.json as { error: { code: string } }).error.code).toBe("admin_disabled");
    expect((await admin(fleet.proxy, "GET", "/stats/", undefined, {})).status).toBe(404);
    expect((await admin(fleet.proxy, "POST", "/admin/login", { token: "" }, {})).status).toBe(404);
    expect(fleet.proxy.logLines.some((line) => line.includes("admin API disabled"))).toBe(true);
    // The proxy itself still serves.
    expect((await fetch(`${fleet.proxy.url}/health`)).status).toBe(200);
  });
});

describe("instances and runtime overrides", () => {
  it("shows each instance's configuration with the key masked and its live state", async () => {
    await using fleet = await startFleet();
    await chat(fleet.proxy);
    const { json } = await admin(fleet.proxy, "GET", "/admin/instances");
    const east = (json as { instances: View[] }).instances[0]!;
    expect(east).toMatchObject({
      name: "east",
      provider_type: "azure",
      api_base: fleet.east.url,
      api_key_masked: "…inel",
      api_version: "2024-10-21",
      enabled: true,
      weight: 1,
      priority: 1,
      max_tpm: null,
      max_rpm: null,
      file: { enabled: true, weight: 1, priority: 1, max_tpm: null, max_rpm: null },
      overrides: null,
      drift: [],
      state: {
        status: "healthy",
        circuit: "closed",
        cooldown_until: null,
        cooldown_reason: null,
        in_flight: 0,
        limiter: { tokens_used: 0, requests_used: 0, max_tpm: null, max_rpm: null, utilisation: 0 },
        last_error: null,
      },
    });
    expect((east.state as unknown as { ewma_latency_ms: number }).ewma_latency_ms).toBeGreaterThanOrEqual(0);
  });

  it("moves traffic off a disabled instance with the next request and back when re-enabled", async () => {
    await using fleet = await startFleet();
    const { proxy, east, west } = fleet;
    await chat(proxy);
    expect(proxy.records.at(-1)?.instance).toBe("east");

    const disabled = await admin(proxy, "PUT", "/admin/instances/east/config", { enabled: false });
    expect(disabled.status).toBe(200);
    expect(disabled.json).toMatchObject({ name: "east", enabled: false, overrides: { enabled: false }, drift: ["enabled"], state: { status: "disabled" } });
    const eastBefore = east.requests.length;
    await chat(proxy);
    expect(proxy.records.at(-1)?.instance).toBe("west");
    expect(east.requests.length).toBe(eastBefore);

    const enabled = await admin(proxy, "PUT", "/admin/instances/east/config", { enabled: true });
    expect(enabled.json).toMatchObject({ enabled: true, overrides: { enabled: true }, drift: [] });
    await chat(proxy);
    expect(proxy.records.at(-1)?.instance).toBe("east");

    // Fields merge; DELETE drops the whole override.
    await admin(proxy, "PUT", "/admin/instances/east/config", { weight: 3, max_rpm: 100 });
    expect((await views(proxy)).east).toMatchObject({ overrides: { enabled: true, weight: 3, max_rpm: 100 }, drift: ["weight", "max_rpm"] });
    const dropped = await admin(proxy, "DELETE", "/admin/instances/east/config");
    expect(dropped.json).toMatchObject({ overrides: null, drift: [], weight: 1, max_rpm: null });
    expect(west.requests.length).toBe(1);
  });

  it("keeps an override across a restart and shows it as drift against the YAML", async () => {
    const databasePath = join(tempDir(), "stats.db");
    {
      await using fleet = await startFleet({ databasePath });
      expect((await admin(fleet.proxy, "PUT", "/admin/instances/east/config", { enabled: false, weight: 5 })).status).toBe(200);
    }
    await using restarted = await startFleet({ databasePath });
    expect(restarted.proxy.logLines.some((line) => line.includes("runtime overrides last only"))).toBe(false);
    expect((await views(restarted.proxy)).east).toMatchObject({
      enabled: false,
      weight: 5,
      file: { enabled: true, weight: 1 },
      overrides: { enabled: false, weight: 5 },
      drift: ["enabled", "weight"],
    });
    await chat(restarted.proxy);
    expect(restarted.proxy.records.at(-1)?.instance).toBe("west");
    const config = await admin(restarted.proxy, "GET", "/admin/config");
    const east = (config.json as { config: { instances: Array<{ name: string; sources: Record<string, string> }> } }).config.instances[0]!;
    expect(east.sources).toEqual({ enabled: "override", weight: "override", priority: "file", max_tpm: "file", max_rpm: "file" });
  });

  it("never lets the admin API change where an instance's traffic goes", async () => {
    await using fleet = await startFleet();
    for (const body of [{ api_base: "http://127.0.0.1:1/" }, { enabled: true, api_base: "http://evil.example/" }, { api_key: "other" }]) {
      const answer = await admin(fleet.proxy, "PUT", "/admin/instances/east/config", body);
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
    }
    const { json } = await admin(fleet.proxy, "GET", "/admin/instances");
    expect((json as { instances: View[] }).instances[0]).toMatchObject({ name: "east", api_base: fleet.east.url, overrides: null });
    await chat(fleet.proxy);
    expect(fleet.east.requests.length + fleet.west.requests.length).toBe(1);
  });

  it("rejects bad override bodies with 400 naming the field, and an unknown instance with 404", async () => {
    await using fleet = await startFleet();
    const put = (body: unknown, name = "east") => admin(fleet.proxy, "PUT", `/admin/instances/${name}/config`, body);
    const unknownField = await put({ enabled: false, colour: "red" });
    expect(unknownField.status).toBe(400);
    expect(unknownField.json).toEqual({
      error: {
        message: "'colour' is not a setting that can be changed at run time (allowed: enabled, weight, priority, max_tpm, max_rpm).",
        type: "invalid_request_error",
        param: "colour",
        code: "invalid_request",
      },
    });
    const cases: Array<[unknown, string | null]> = [
      [{ weight: "2" }, "weight"],
      [{ weight: -1 }, "weight"],
      ['{"weight": 1e400}', "weight"],
      [{ priority: 1.5 }, "priority"],
      [{ priority: -2 }, "priority"],
      [{ max_tpm: 0 }, "max_tpm"],
      [{ max_rpm: -5 }, "max_rpm"],
      [{ max_rpm: "10" }, "max_rpm"],
      [{ enabled: "yes" }, "enabled"],
      [{ enabled: null }, "enabled"],
      [{}, null],
      [[{ weight: 1 }], null],
      ["42", null],
      ["{not json", null],
    ];
    for (const [body, param] of cases) {
      const answer = await put(body);
      expect({ body, status: answer.status, param: (answer.json as { error: { param: string | null } }).error.param }).toEqual({ body, status: 400, param });
    }
    const unknownInstance = await put({ enabled: false }, "nowhere");
    expect(unknownInstance.status).toBe(404);
    expect((unknownInstance.json as { error: { code: string } }).error.code).toBe("instance_not_found");
    expect((await admin(fleet.proxy, "DELETE", "/admin/instances/nowhere/config")).status).toBe(404);
    expect((await admin(fleet.proxy, "POST", "/admin/instances/nowhere/reset")).status).toBe(404);
    for (const odd of ["a%25b", "%E0%A4%A", "east%2Fx"]) {
      expect({ odd, status: (await admin(fleet.proxy, "POST", `/admin/instances/${odd}/reset`)).status }).toEqual({ odd, status: 404 });
    }
    const huge = await put(`{"weight": 1, "pad": "${"x".repeat(20_000)}"}`);
    expect({ status: huge.status, code: (huge.json as { error: { code: string } }).error.code }).toEqual({ status: 413, code: "request_too_large" });
    // Nothing was applied by any of them.
    expect((await views(fleet.proxy)).east).toMatchObject({ overrides: null, drift: [] });
  });

  it("reset clears a 30 s cooldown and the instance's limiter window", async () => {
    await using fleet = await startFleet({ config: {} });
    const { proxy, east } = fleet;
    await admin(proxy, "PUT", "/admin/instances/east/config", { max_rpm: 1 });
    await chat(proxy);
    expect((await views(proxy)).east!.state.limiter.requests_used).toBe(1);

    // With max_rpm 1 spent, only a cleared window lets the next request reach east at all.
    const reset = await admin(proxy, "POST", "/admin/instances/east/reset");
    expect(reset.json).toMatchObject({ state: { limiter: { requests_used: 0, max_rpm: 1 } } });
    east.enqueue({ kind: "status", status: 429, headers: { "retry-after": "30" } });
    const eastBefore = east.requests.length;
    const before = Date.now();
    await chat(proxy); // east answers 429 (cooldown 30 s), west serves
    expect(east.requests.length).toBe(eastBefore + 1);
    expect(proxy.records.at(-1)?.instance).toBe("west");
    const cooling = (await views(proxy)).east!;
    expect(cooling.state.status).toBe("cooldown");
    expect(cooling.state.cooldown_until! - before).toBeGreaterThanOrEqual(29_000);
    expect(cooling.state.cooldown_reason).toContain("429");

    const again = await admin(proxy, "POST", "/admin/instances/east/reset");
    expect(again.json).toMatchObject({ state: { status: "healthy", cooldown_until: null, circuit: "closed", limiter: { requests_used: 0 } } });
    await chat(proxy);
    expect(proxy.records.at(-1)?.instance).toBe("east");
  });

  it("refuses an override it cannot store, leaving the fleet as it was", async () => {
    const stats = openStats(
      { enabled: true, database: join(tempDir(), "stats.db"), retention_days: { raw: 7, rollups: 90 }, flush_interval: 1, max_queue: 10 },
      createLogger({ write: () => {} }),
    );
    await using east = await startFakeAzure();
    await using proxy = await startProxy({
      config: { admin: { token: ADMIN_TOKEN }, health_check: { enabled: false }, instances: azureInstances([{ url: east.url, apiKey: east.apiKey, name: "east" }]) },
      stats: stats.deps,
    });
    stats.close(); // the database is gone from under the running proxy
    const refused = await admin(proxy, "PUT", "/admin/instances/east/config", { enabled: false });
    expect(refused.status).toBe(500);
    expect(refused.json).toEqual({
      error: { message: "The override could not be stored; nothing was changed.", type: "server_error", param: null, code: "internal_error" },
    });
    expect((await views(proxy)).east).toMatchObject({ enabled: true, overrides: null });
    expect((await admin(proxy, "DELETE", "/admin/instances/east/config")).status).toBe(500);
    expect(proxy.logLines.some((line) => line.includes("runtime override could not be stored"))).toBe(true);
  });
});
