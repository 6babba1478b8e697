// POST /admin/reload against real YAML files: a valid change applies at once, an invalid one is refused and changes nothing.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { loadConfig } from "../../server/config/load.ts";
import { startFakeAzure, type FakeAzure } from "../_support/fake-azure.ts";
import { openEventStream } from "../_support/event-stream.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

const ADMIN_TOKEN = "adm-reload-token-0123456789";
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function rawConfig(east: FakeAzure, west: FakeAzure, instances?: Record<string, unknown>[]) {
  return {
    admin: { token: ADMIN_TOKEN },
    health_check: { enabled: false },
    stats: { enabled: false },
    instances:
      instances ??
      azureInstances([
        { url: east.url, apiKey: east.apiKey, name: "east" },
        { url: west.url, apiKey: west.apiKey, name: "west" },
      ]),
  };
}

async function setup() {
  const east = await startFakeAzure({ apiKey: "east-reload-key-0123456789" });
  const west = await startFakeAzure({ apiKey: "west-reload-key-0123456789" });
  const dir = mkdtempSync(join(tmpdir(), "proxy-reload-"));
  dirs.push(dir);
  // YAML is a superset of JSON: the file holds exactly the object the test starts the proxy with.
  const write = (raw: unknown) => writeFileSync(join(dir, "base.yaml"), typeof raw === "string" ? raw : JSON.stringify(raw, null, 2));
  const initial = rawConfig(east, west);
  write(initial);
  const proxy = await startProxy({
    config: initial,
    loadConfig: () => loadConfig({ dir, explicit: true, env: {} }),
    configFiles: [join(dir, "base.yaml")],
  });
  const post = async (path: string, method = "POST", body?: unknown) => {
    const response = await fetch(`${proxy.url}${path}`, {
      method,
      headers: { ...auth, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };
  const names = async () => ((await post("/admin/instances", "GET")).json.instances as Array<{ name: string }>).map((view) => view.name);
  return {
    east,
    west,
    dir,
    proxy,
    write,
    post,
    names,
    client: new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 }),
    async [Symbol.asyncDispose]() {
      await proxy[Symbol.asyncDispose]();
      await Promise.all([east[Symbol.asyncDispose](), west[Symbol.asyncDispose]()]);
    },
  };
}

const ask = { model: "gpt-4o", messages: [{ role: "user" as const, content: "hi" }] };

describe("config reload", () => {
  it("applies a valid file at once, keeps runtime overrides, and tells the event stream", async () => {
    await using s = await setup();
    await using stream = await openEventStream(`${s.proxy.url}/admin/events`, auth);
    await stream.nextEvent("snapshot");
    expect((await s.post("/admin/instances/west/config", "PUT", { weight: 7 })).status).toBe(200);

    const instances = azureInstances([
      { url: s.west.url, apiKey: s.west.apiKey, name: "west" },
      { url: s.east.url, apiKey: s.east.apiKey, name: "east", enabled: false },
      { url: s.east.url, apiKey: s.east.apiKey, name: "north" },
    ]);
    s.write({ ...rawConfig(s.east, s.west, instances), routing: { strategy: "weighted", timeout: 12 } });
    const reloaded = await s.post("/admin/reload");
    expect(reloaded).toEqual({ status: 200, json: { reloaded: true, instances: ["west", "east", "north"] } });
    expect(await s.names()).toEqual(["west", "east", "north"]);
    const restartLine = s.proxy.logLines.find((line) => line.includes("apply only after a restart"));
    expect(JSON.parse(restartLine ?? "{}").sections).toEqual(["routing.timeout"]);
    expect(await stream.nextEvent("config")).toEqual({ at: expect.any(Number), reason: "override", instances: ["west"] });
    expect(await stream.nextEvent("config")).toEqual({ at: expect.any(Number), reason: "reload", instances: ["west", "east", "north"] });

    const views = (await s.post("/admin/instances", "GET")).json.instances as Array<{ name: string; weight: number; priority: number; enabled: boolean }>;
    expect(views.map(({ name, weight, priority, enabled }) => ({ name, weight, priority, enabled }))).toEqual([
      { name: "west", weight: 7, priority: 1, enabled: true },
      { name: "east", weight: 1, priority: 2, enabled: false },
      { name: "north", weight: 1, priority: 3, enabled: true },
    ]);
    for (let i = 0; i < 5; i++) await s.client.chat.completions.create(ask);
    // The disabled east gets nothing; "north" points at the east fake, so every request reached west's fake or north's.
    expect(s.proxy.records.every((record) => record.instance === "west" || record.instance === "north")).toBe(true);
    expect(s.east.requests.length).toBe(s.proxy.records.filter((record) => record.instance === "north").length);
  });

  it("refuses an invalid file with the same problem list as at start, and keeps the running configuration", async () => {
    await using s = await setup();
    const broken = rawConfig(s.east, s.west);
    (broken.instances[0] as Record<string, unknown>).api_base = "not-a-url";
    (broken as Record<string, unknown>).colour = "red";
    s.write(broken);
    const refused = await s.post("/admin/reload");
    expect(refused.status).toBe(400);
    const file = join(s.dir, "base.yaml");
    expect(refused.json).toEqual({
      error: {
        message: `The configuration was rejected; the running one is kept. ${file}: colour: unknown key`,
        type: "invalid_request_error",
        param: null,
        code: "invalid_config",
        problems: [{ file, path: "colour", reason: "unknown key" }],
      },
    });
    delete (broken as Record<string, unknown>).colour;
    s.write(broken);
    const semantic = await s.post("/admin/reload");
    expect((semantic.json.error as { problems: unknown }).problems).toEqual([{ file, path: "instances[0].api_base", reason: "expected an http(s) URL" }]);
    s.write("instances: [\n");
    expect((await s.post("/admin/reload")).status).toBe(400);

    expect(await s.names()).toEqual(["east", "west"]);
    await s.client.chat.completions.create(ask);
    expect(s.proxy.records.at(-1)?.instance).toBe("east");
  });

  it("lets a request in flight finish on the instance it started on when a reload removes it", async () => {
    await using s = await setup();
    s.east.enqueue({ kind: "delay", ms: 400 });
    const inFlight = s.client.chat.completions.create(ask);
    await until(() => s.east.requests.length === 1);
    s.write(rawConfig(s.east, s.west, azureInstances([{ url: s.west.url, apiKey: s.west.apiKey, name: "west" }])));
    expect((await s.post("/admin/reload")).status).toBe(200);
    const completion = await inFlight;
    expect(completion.choices[0]?.message.content).toBeString();
    expect(s.proxy.records.at(-1)?.instance).toBe("east");
    await s.client.chat.completions.create(ask);
    expect(s.proxy.records.at(-1)?.instance).toBe("west");
  });

  it("answers 500 without details when the files cannot be read at all, and keeps serving", async () => {
    await using east = await startFakeAzure();
    await using proxy = await startProxy({
      config: { admin: { token: ADMIN_TOKEN }, health_check: { enabled: false }, instances: azureInstances([{ url: east.url, apiKey: east.apiKey, name: "east" }]) },
      loadConfig: () => Promise.reject(new Error("EIO: disk on fire at /etc/secret-path")),
    });
    const response = await fetch(`${proxy.url}/admin/reload`, { method: "POST", headers: auth });
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(body).not.toContain("disk on fire");
    expect(proxy.logLines.some((line) => line.includes("disk on fire"))).toBe(true);
    expect((await fetch(`${proxy.url}/admin/instances`, { headers: auth })).status).toBe(200);
  });

  it("applies client keys from a reloaded file to the next request", async () => {
    await using s = await setup();
    await s.client.chat.completions.create(ask);
    s.write({ ...rawConfig(s.east, s.west), auth: { api_keys: [{ name: "team", key: "sk-reloaded-key-0123456789" }] } });
    expect((await s.post("/admin/reload")).status).toBe(200);
    const refused = await s.client.chat.completions.create(ask).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ status: 401 });
    const keyed = new OpenAI({ baseURL: `${s.proxy.url}/v1`, apiKey: "sk-reloaded-key-0123456789", maxRetries: 0 });
    expect((await keyed.chat.completions.create(ask)).choices).toHaveLength(1);
  });
});
