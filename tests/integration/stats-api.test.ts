// Statistics end to end: mixed SDK traffic through the real proxy, then /stats, /stats/instances, /stats/usage and /metrics over HTTP.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { openStatsDatabase, wrapStatsClient, type StatsDatabase } from "../../server/db/client.ts";
import { createLogger } from "../../server/log.ts";
import type { Usage } from "../../server/proxy/usage.ts";
import { createStatsRecorder, type StatsRecorder } from "../../server/stats/recorder.ts";
import { openStats } from "../../server/stats/open.ts";
import { startFakeAzure, type FakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, buildConfig, startProxy, type TestProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

const dirs: string[] = [];
function tempDbPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "proxy-stats-api-"));
  dirs.push(dir);
  return join(dir, "stats.db");
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const KEYS = [
  { name: "team-a", key: "sk-team-a-secret-value" },
  { name: "team-b", key: "sk-team-b-secret-value" },
];
const messages = [{ role: "user" as const, content: "Say this is a test" }];

function newRecorder(database: StatsDatabase | null): StatsRecorder {
  return createStatsRecorder({
    database,
    logger: createLogger({ write: () => {} }),
    now: Date.now,
    // Tests flush explicitly, so what a query sees never depends on timing.
    flushIntervalMs: 3_600_000,
    maxQueue: 10_000,
    batchRows: 1000,
    retention: { rawDays: 7, rollupDays: 90 },
    pruneIntervalMs: 3_600_000,
  });
}

type Setup = AsyncDisposable & { east: FakeAzure; west: FakeAzure; proxy: TestProxy; recorder: StatsRecorder; database: StatsDatabase };

async function setup(): Promise<Setup> {
  const east = await startFakeAzure({ apiKey: "east-instance-secret" });
  const west = await startFakeAzure({ apiKey: "west-instance-secret" });
  const database = openStatsDatabase(tempDbPath());
  const recorder = newRecorder(database);
  const proxy = await startProxy({
    config: {
      auth: { api_keys: KEYS },
      health_check: { enabled: false },
      instances: azureInstances([
        { url: east.url, apiKey: east.apiKey, api_version: "2024-10-21" },
        { url: west.url, apiKey: west.apiKey, api_version: "2024-10-21" },
      ]),
    },
    stats: { recorder, db: database.db },
  });
  return {
    east,
    west,
    proxy,
    recorder,
    database,
    async [Symbol.asyncDispose]() {
      await proxy[Symbol.asyncDispose]();
      recorder.close();
      database.close();
      await Promise.all([east[Symbol.asyncDispose](), west[Symbol.asyncDispose]()]);
    },
  };
}

const client = (proxy: TestProxy, key: string) => new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: key, maxRetries: 0 });

async function getJson(url: string): Promise<{ status: number; body: unknown; text: string }> {
  const response = await fetch(url);
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text), text };
}

describe("usage statistics", () => {
  it("accounts for mixed traffic exactly as the clients observed it", async () => {
    await using s = await setup();
    const teamA = client(s.proxy, KEYS[0]!.key);
    const teamB = client(s.proxy, KEYS[1]!.key);
    /** Usage each client saw, by the proxy's x-request-id. */
    const observed = new Map<string, Usage>();

    for (let i = 0; i < 3; i++) {
      const { data, request_id } = await teamA.chat.completions.create({ model: "gpt-4o", messages }).withResponse();
      observed.set(request_id!, data.usage!);
    }
    const streamed = await teamB.chat.completions.create({ model: "gpt-4o", messages, stream: true, stream_options: { include_usage: true } }).withResponse();
    let streamedUsage: Usage | undefined;
    for await (const chunk of streamed.data) if (chunk.usage) streamedUsage = chunk.usage;
    observed.set(streamed.request_id!, streamedUsage!);
    // Without include_usage the client sees no usage, but the proxy asked Azure for it: same prompt, same answer, same usage.
    const quiet = await teamB.chat.completions.create({ model: "gpt-4o", messages, stream: true }).withResponse();
    for await (const chunk of quiet.data) expect(chunk.usage ?? null).toBeNull();

    s.east.enqueue({ kind: "slow-stream", intervalMs: 200 });
    const aborted = await teamA.chat.completions.create({ model: "gpt-4o", messages, stream: true }).withResponse();
    for await (const _chunk of aborted.data) break;
    await until(() => s.proxy.records.length === 6);

    s.east.enqueue({ kind: "status", status: 500 });
    const failedOver = await teamA.chat.completions.create({ model: "gpt-4o", messages }).withResponse();
    observed.set(failedOver.request_id!, failedOver.data.usage!);

    s.east.enqueue({ kind: "status", status: 429 });
    s.west.enqueue({ kind: "status", status: 429 });
    const throttled = await teamB.chat.completions.create({ model: "gpt-4o", messages }).catch((error: unknown) => error);
    expect(throttled).toBeInstanceOf(OpenAI.RateLimitError);
    const unauthorised = await client(s.proxy, "sk-wrong").chat.completions.create({ model: "gpt-4o", messages }).catch((error: unknown) => error);
    expect(unauthorised).toBeInstanceOf(OpenAI.AuthenticationError);

    await until(() => s.proxy.records.length === 9);
    s.recorder.flush();
    expect(s.recorder.status()).toMatchObject({ state: "ok", written: 9, dropped: 0 });

    const rows = s.database.client
      .query("SELECT request_id, client_name, instance, status, attempts, prompt_tokens, completion_tokens, total_tokens, usage_source FROM requests")
      .all() as Array<{ request_id: string; client_name: string | null; instance: string | null; status: number; attempts: number; prompt_tokens: number | null; completion_tokens: number | null; total_tokens: number | null; usage_source: string | null }>;
    expect(rows).toHaveLength(9);
    const byId = new Map(rows.map((row) => [row.request_id, row]));
    for (const [requestId, usage] of observed) {
      expect(byId.get(requestId)).toMatchObject({ prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.total_tokens, usage_source: "upstream" });
    }
    expect(byId.get(quiet.request_id!)).toMatchObject({ total_tokens: streamedUsage!.total_tokens, usage_source: "upstream" });
    expect(byId.get(aborted.request_id!)).toMatchObject({ status: 499, instance: "azure-1" });
    expect(byId.get(failedOver.request_id!)).toMatchObject({ status: 200, instance: "azure-2", attempts: 2 });
    const attempts = s.database.client.query("SELECT request_id, instance, status, reason FROM failed_attempts ORDER BY id").all();
    expect(attempts).toEqual([
      { request_id: failedOver.request_id, instance: "azure-1", status: 500, reason: "server_error" },
      { request_id: expect.any(String), instance: "azure-1", status: 429, reason: "throttled" },
      { request_id: expect.any(String), instance: "azure-2", status: 429, reason: "throttled" },
    ]);

    const tokens = { prompt: 0, completion: 0, total: 0 };
    for (const row of rows) {
      tokens.prompt += row.prompt_tokens ?? 0;
      tokens.completion += row.completion_tokens ?? 0;
      tokens.total += row.total_tokens ?? 0;
    }
    const observedTotal = [...observed.values()].reduce((sum, usage) => sum + usage.total_tokens, 0) + streamedUsage!.total_tokens;
    expect(tokens.total).toBe(observedTotal + (byId.get(aborted.request_id!)!.total_tokens ?? 0));

    const summary = await getJson(`${s.proxy.url}/stats/?window=60`);
    expect(summary.status).toBe(200);
    expect(summary.body).toMatchObject({
      window_minutes: 60,
      requests: 9,
      errors: 3,
      tokens,
      by_instance: {
        "(none)": { requests: 2, errors: 2 },
        "azure-1": { requests: 6, errors: 1 },
        "azure-2": { requests: 1, errors: 0, tokens: { total: failedOver.data.usage!.total_tokens } },
      },
      by_key: { "(none)": { requests: 1, errors: 1 }, "team-a": { requests: 5, errors: 1 }, "team-b": { requests: 3, errors: 1 } },
      // The 401 was rejected before its body, and so its model, was read.
      by_model: { "(none)": { requests: 1, errors: 1 }, "gpt-4o": { requests: 8, errors: 2 } },
    });
    const latency = (summary.body as { latency_ms: { p50: number; p95: number; p99: number } }).latency_ms;
    expect(latency.p50).toBeGreaterThanOrEqual(0);
    expect(latency.p99).toBeGreaterThanOrEqual(latency.p50);

    const east = await getJson(`${s.proxy.url}/stats/instances?instance=azure-1`);
    expect(east.body).toMatchObject({
      instance: "azure-1",
      window_minutes: 60,
      requests: 6,
      errors: 1,
      errors_by_status: { "499": 1 },
      failed_attempts: { total: 2, by_reason: { server_error: 1, throttled: 1 }, by_status: { "500": 1, "429": 1 } },
    });
    expect((east.body as { ttfb_ms: { p50: number | null } }).ttfb_ms.p50).not.toBeNull();

    const series = async (query: string) => {
      const { body } = await getJson(`${s.proxy.url}/stats/usage?${query}`);
      const points = (body as { points: Array<{ t: number; value: number | null }> }).points;
      return { body, sum: points.reduce((sum, point) => sum + (point.value ?? 0), 0), points };
    };
    const requestsSeries = await series("metric=requests&window=60");
    expect(requestsSeries.body).toMatchObject({ metric: "requests", window_minutes: 60, bucket_seconds: 60 });
    expect(requestsSeries.points).toHaveLength(60);
    expect(requestsSeries.sum).toBe(9);
    expect((await series("metric=errors")).sum).toBe(3);
    expect((await series("metric=tokens")).sum).toBe(tokens.total);
    expect((await series("metric=requests&instance=azure-2")).sum).toBe(1);
    expect((await series("metric=requests&key=team-b&model=gpt-4o")).sum).toBe(3);
    expect((await series("metric=latency&instance=azure-1")).points.some((point) => point.value !== null)).toBe(true);

    const metrics = await (await fetch(`${s.proxy.url}/metrics`)).text();
    expect(metrics).toContain('proxy_requests_total{instance="azure-1",model="gpt-4o",status="200"} 5');
    expect(metrics).toContain('proxy_requests_total{instance="none",model="gpt-4o",status="429"} 1');
    expect(metrics).toContain('proxy_failed_attempts_total{instance="azure-2",reason="throttled"} 1');
    expect(metrics).toContain(`proxy_tokens_total{instance="azure-2",model="gpt-4o",type="completion"} ${failedOver.data.usage!.completion_tokens}`);
    expect(metrics).toContain('proxy_request_duration_seconds_count{instance="azure-1",model="gpt-4o"} 6');
    expect(metrics).toContain("proxy_stats_degraded 0");
    expect(metrics).toContain('proxy_instance_up{instance="azure-1"}');
    expect(metrics).toMatch(/proxy_limiter_utilisation_ratio\{instance="azure-2"\} [\d.]+/);

    // No key, client or instance, ever appears in what the statistics endpoints answer.
    for (const body of [summary.text, east.text, JSON.stringify(requestsSeries.body), metrics]) {
      for (const secret of [...KEYS.map((key) => key.key), s.east.apiKey, s.west.apiKey]) expect(body).not.toContain(secret);
    }
  });

  it("answers 400 naming the parameter, and 404 for an unknown instance, in the OpenAI error shape", async () => {
    await using s = await setup();
    const cases: Array<[string, number, Record<string, unknown>]> = [
      ["/stats/?window=abc", 400, { param: "window", code: "invalid_request" }],
      ["/stats/?window=0", 400, { param: "window", code: "invalid_request" }],
      ["/stats?window=43201", 400, { param: "window", code: "invalid_request" }],
      ["/stats/instances", 400, { param: "instance", code: "missing_required_parameter" }],
      ["/stats/instances?instance=azure-1&window=-1", 400, { param: "window", code: "invalid_request" }],
      ["/stats/instances?instance=nowhere", 404, { param: "instance", code: "instance_not_found" }],
      ["/stats/usage", 400, { param: "metric", code: "missing_required_parameter" }],
      ["/stats/usage?metric=cost", 400, { param: "metric", code: "invalid_request" }],
      ["/stats/usage?metric=tokens&window=1.5", 400, { param: "window", code: "invalid_request" }],
      ["/stats/usage?metric=latency&instance=azure-1&model=gpt-4o", 400, { param: "model", code: "invalid_request" }],
    ];
    for (const [path, status, error] of cases) {
      const response = await fetch(`${s.proxy.url}${path}`);
      expect({ path, status: response.status }).toEqual({ path, status });
      expect(response.headers.get("x-request-id")).toBeString();
      expect(await response.json()).toEqual({ error: { message: expect.any(String), type: "invalid_request_error", ...error } });
    }
  });

  it("keeps serving requests on a read-only database and says so in /health and /metrics", async () => {
    await using fake = await startFakeAzure();
    const path = tempDbPath();
    openStatsDatabase(path).close();
    const database = wrapStatsClient(new Database(path, { readonly: true }));
    const recorder = newRecorder(database);
    await using proxy = await startProxy({
      config: { health_check: { enabled: false }, instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]) },
      stats: { recorder, db: database.db },
    });
    const openai = client(proxy, "none");
    for (let i = 0; i < 3; i++) {
      const completion = await openai.chat.completions.create({ model: "gpt-4o", messages });
      expect(completion.choices[0]?.message.content).toBeString();
    }
    await until(() => proxy.records.length === 3);
    recorder.flush();
    const health = await fetch(`${proxy.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ stats: "degraded" });
    expect(await (await fetch(`${proxy.url}/metrics`)).text()).toContain("proxy_stats_degraded 1");
    // What was written before is still readable.
    expect((await getJson(`${proxy.url}/stats/`)).body).toMatchObject({ requests: 0 });
    recorder.close();
    database.close();
  });

  it("serves requests and /metrics when the database cannot be opened at all, and /stats answers 503", async () => {
    await using fake = await startFakeAzure();
    const lines: string[] = [];
    const config = buildConfig({ stats: { database: "/dev/null/stats.db" } });
    const stats = openStats(config.stats, createLogger({ write: (line) => lines.push(line) }));
    expect(lines.some((line) => line.includes("statistics database could not be opened"))).toBe(true);
    await using proxy = await startProxy({
      config: { health_check: { enabled: false }, instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]) },
      stats: stats.deps,
    });
    await client(proxy, "none").chat.completions.create({ model: "gpt-4o", messages });
    const health = await fetch(`${proxy.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ stats: "degraded" });
    expect((await fetch(`${proxy.url}/metrics`)).status).toBe(200);
    const unavailable = await fetch(`${proxy.url}/stats/`);
    expect(unavailable.status).toBe(503);
    expect(await unavailable.json()).toEqual({ error: { message: expect.any(String), type: "server_error", param: null, code: "stats_unavailable" } });
    await until(() => stats.deps?.recorder.status().dropped === 1);
    stats.close();
  });
});
