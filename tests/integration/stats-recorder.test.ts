// The recorder over real SQLite files: batched writes, shutdown flush, a bounded queue, failing disks, retention, embedded migrations.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStatsDatabase, wrapStatsClient } from "../../server/db/client.ts";
import { EMBEDDED_JOURNAL, EMBEDDED_MIGRATIONS } from "../../server/db/migrations.ts";
import { createLogger } from "../../server/log.ts";
import type { RequestRecord } from "../../server/proxy/request-record.ts";
import { createStatsQueries } from "../../server/stats/queries.ts";
import { createStatsRecorder, type StatsRecorderOptions } from "../../server/stats/recorder.ts";
import { createRetentionPruner } from "../../server/stats/retention.ts";
import { REPO_ROOT } from "../_support/process.ts";
import { until } from "../_support/until.ts";

const dirs: string[] = [];
function tempDbPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "proxy-stats-"));
  dirs.push(dir);
  return join(dir, "stats.db");
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const NOW = Date.now();
let sequence = 0;
function record(overrides: Partial<RequestRecord> = {}): RequestRecord {
  return {
    requestId: `req-${++sequence}`,
    startedAt: NOW,
    clientName: "team-a",
    model: "gpt-4o",
    endpoint: "/chat/completions",
    stream: false,
    status: 200,
    errorCode: null,
    instance: "east",
    deployment: "gpt-4o",
    attempts: 1,
    failedAttempts: [],
    latencyMs: 100,
    ttfbMs: 50,
    usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
    usageSource: "upstream",
    upstreamRequestId: null,
    region: null,
    clientAborted: false,
    ...overrides,
  };
}

function recorderOptions(overrides: Partial<StatsRecorderOptions> & Pick<StatsRecorderOptions, "database">, logLines: string[] = []): StatsRecorderOptions {
  return {
    logger: createLogger({ write: (line) => logLines.push(line) }),
    now: Date.now,
    flushIntervalMs: 3_600_000,
    maxQueue: 1000,
    batchRows: 100,
    retention: { rawDays: 7, rollupDays: 90 },
    pruneIntervalMs: 3_600_000,
    ...overrides,
  };
}

const countRows = (client: Database, table: string) => (client.query(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

describe("stats database", () => {
  it("opens in WAL mode with synchronous=NORMAL and a busy timeout, and migrating twice is harmless", () => {
    const path = tempDbPath();
    openStatsDatabase(path).close();
    const database = openStatsDatabase(path);
    expect(database.client.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    expect(database.client.query("PRAGMA synchronous").get()).toEqual({ synchronous: 1 });
    expect(database.client.query("PRAGMA busy_timeout").get()).toEqual({ timeout: 250 });
    expect(countRows(database.client, "__drizzle_migrations")).toBe(EMBEDDED_JOURNAL.entries.length);
    database.close();
  });

  it("embeds every migration drizzle-kit wrote, byte for byte", () => {
    const folder = join(REPO_ROOT, "drizzle");
    const files = readdirSync(folder).filter((name) => name.endsWith(".sql"));
    expect(Object.keys(EMBEDDED_MIGRATIONS).sort()).toEqual(files.map((name) => name.slice(0, -4)).sort());
    for (const name of files) expect(EMBEDDED_MIGRATIONS[name.slice(0, -4)]).toBe(readFileSync(join(folder, name), "utf8"));
    expect(EMBEDDED_JOURNAL).toEqual(JSON.parse(readFileSync(join(folder, "meta", "_journal.json"), "utf8")));
  });
});

describe("stats recorder", () => {
  it("writes nothing on the request path, then everything in batches; close flushes the rest", () => {
    const database = openStatsDatabase(tempDbPath());
    const recorder = createStatsRecorder(recorderOptions({ database }));
    for (let i = 0; i < 250; i++) recorder.record(record({ failedAttempts: i % 50 === 0 ? [{ instance: "west", status: 500, reason: "server_error", latencyMs: 5 }] : [] }));
    expect(countRows(database.client, "requests")).toBe(0);
    recorder.close();
    expect(recorder.status()).toEqual({ state: "ok", queued: 0, dropped: 0, written: 250, lastError: null });
    expect(countRows(database.client, "requests")).toBe(250);
    expect(countRows(database.client, "failed_attempts")).toBe(5);
    const summary = createStatsQueries(database.db).summary(5, Date.now());
    expect(summary).toMatchObject({ requests: 250, errors: 0, tokens: { prompt: 1750, completion: 750, total: 2500 } });
    expect(summary.latency_ms.p50).toBeGreaterThan(75);
    expect(summary.latency_ms.p50).toBeLessThanOrEqual(100);
    database.close();
  });

  it("writes a full batch without waiting for the timer", async () => {
    const database = openStatsDatabase(tempDbPath());
    const recorder = createStatsRecorder(recorderOptions({ database, batchRows: 10 }));
    for (let i = 0; i < 25; i++) recorder.record(record());
    await until(() => recorder.status().written === 20);
    expect(recorder.status().queued).toBe(5);
    recorder.close();
    database.close();
  });

  it("writes on the timer", async () => {
    const database = openStatsDatabase(tempDbPath());
    const recorder = createStatsRecorder(recorderOptions({ database, flushIntervalMs: 20 }));
    recorder.record(record());
    await until(() => countRows(database.client, "requests") === 1);
    recorder.close();
    database.close();
  });

  it("drops and counts records beyond its bound instead of growing", () => {
    const database = openStatsDatabase(tempDbPath());
    const recorder = createStatsRecorder(recorderOptions({ database, maxQueue: 50, batchRows: 1000 }));
    for (let i = 0; i < 80; i++) recorder.record(record());
    expect(recorder.status()).toMatchObject({ queued: 50, dropped: 30 });
    recorder.close();
    expect(countRows(database.client, "requests")).toBe(50);
    database.close();
  });

  it("turns degraded on a read-only database without throwing, keeping records queued", () => {
    const path = tempDbPath();
    openStatsDatabase(path).close();
    const database = wrapStatsClient(new Database(path, { readonly: true }));
    const logLines: string[] = [];
    const recorder = createStatsRecorder(recorderOptions({ database }, logLines));
    recorder.record(record());
    expect(() => recorder.flush()).not.toThrow();
    expect(recorder.status()).toMatchObject({ state: "degraded", queued: 1, written: 0 });
    expect(recorder.status().lastError).toContain("readonly");
    expect(logLines.filter((line) => line.includes("statistics writes failing"))).toHaveLength(1);
    recorder.close();
    expect(recorder.status()).toMatchObject({ queued: 0, dropped: 1 });
    database.close();
  });

  it("recovers when a full disk has room again, writing what it held", () => {
    const database = openStatsDatabase(tempDbPath());
    const pages = (database.client.query("PRAGMA page_count").get() as { page_count: number }).page_count;
    // SQLite reports SQLITE_FULL past max_page_count, exactly as on a full disk.
    database.client.run(`PRAGMA max_page_count = ${pages}`);
    const recorder = createStatsRecorder(recorderOptions({ database }));
    for (let i = 0; i < 300; i++) recorder.record(record({ errorCode: "x".repeat(200) }));
    recorder.flush();
    expect(recorder.status()).toMatchObject({ state: "degraded", written: 0, queued: 300 });
    expect(recorder.status().lastError).toContain("full");
    database.client.run("PRAGMA max_page_count = 1073741823");
    recorder.flush();
    expect(recorder.status()).toMatchObject({ state: "ok", written: 300, queued: 0, lastError: null });
    expect(countRows(database.client, "requests")).toBe(300);
    recorder.close();
    database.close();
  });

  it("starts degraded without a database and drops every record", () => {
    const recorder = createStatsRecorder(recorderOptions({ database: null }));
    recorder.record(record());
    expect(recorder.status()).toMatchObject({ state: "degraded", dropped: 1, queued: 0 });
    recorder.close();
  });
});

describe("retention", () => {
  it("deletes raw rows, minute rollups and hour rollups past their cutoffs, a batch at a time", () => {
    const database = openStatsDatabase(tempDbPath());
    const recorder = createStatsRecorder(recorderOptions({ database }));
    const day = 86_400_000;
    for (let i = 0; i < 30; i++) recorder.record(record({ startedAt: NOW - 10 * day - i * 60_000, failedAttempts: [{ instance: "west", status: 429, reason: "throttled", latencyMs: 1 }] }));
    recorder.record(record({ startedAt: NOW - 100 * day }));
    recorder.record(record());
    recorder.close();
    const prune = createRetentionPruner(database, { rawDays: 7, rollupDays: 90 }, 20);
    expect(prune(NOW)).toMatchObject({ done: false });
    while (!prune(NOW).done);
    expect(countRows(database.client, "requests")).toBe(1);
    expect(countRows(database.client, "failed_attempts")).toBe(0);
    const rollups = database.client.query("SELECT bucket_sec, sum(requests) AS requests FROM rollups GROUP BY bucket_sec").all();
    // The hour rollups of ten days ago stay: they are inside the 90-day rollup retention.
    expect(rollups).toEqual([
      { bucket_sec: 60, requests: 1 },
      { bucket_sec: 3600, requests: 31 },
    ]);
    expect(createStatsQueries(database.db).summary(43_200, NOW).requests).toBe(31);
    database.close();
  });

  it("keeps no time index on raw rows, and prunes them oldest id first, looking at one batch of ids at a time", () => {
    const database = openStatsDatabase(tempDbPath());
    const indexes = database.client.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'requests'").all();
    expect(indexes).toEqual([]);
    const recorder = createStatsRecorder(recorderOptions({ database }));
    const day = 86_400_000;
    for (let i = 0; i < 5; i++) recorder.record(record({ requestId: `old-${i}`, startedAt: NOW - 10 * day }));
    for (let i = 0; i < 30; i++) recorder.record(record({ requestId: `new-${i}` }));
    // Settled after newer requests (a stream of hours would): its row waits until the rows before it go.
    recorder.record(record({ requestId: "late", startedAt: NOW - 10 * day }));
    recorder.close();
    const prune = createRetentionPruner(database, { rawDays: 7, rollupDays: 90 }, 20);
    expect(prune(NOW).done).toBe(true);
    const left = database.client.query("SELECT request_id FROM requests WHERE request_id NOT LIKE 'new-%'").all();
    expect(left).toEqual([{ request_id: "late" }]);
    expect(countRows(database.client, "requests")).toBe(31);
    database.close();
  });
});

describe("usage series", () => {
  it("puts each request's tokens, count and latency on the point it started in, whether points are as wide as the rollups or wider", () => {
    const database = openStatsDatabase(tempDbPath());
    const recorder = createStatsRecorder(recorderOptions({ database }));
    const minute = 60_000;
    const hour = 60 * minute;
    const ages = [0, 2 * minute, 3 * hour, 20 * hour, 3 * 24 * hour];
    ages.forEach((age, index) =>
      recorder.record(record({ startedAt: NOW - age, latencyMs: 100 * (index + 1), usage: { prompt_tokens: index, completion_tokens: 1, total_tokens: index + 1 } })),
    );
    recorder.close();
    const queries = createStatsQueries(database.db);
    const filters = { instance: null, model: null, key: null };
    const series = (metric: "tokens" | "requests" | "latency", windowMinutes: number) => queries.usage({ metric, windowMinutes, ...filters }, NOW);
    const pointOf = (points: Array<{ t: number }>, ageMs: number, pointSec: number) => {
      const start = Math.floor((NOW - ageMs) / 1000 / pointSec) * pointSec;
      return points.findIndex((point) => point.t === start);
    };
    const nonZero = (points: Array<{ t: number; value: number | null }>) =>
      points.flatMap((point, index) => (point.value ? [[index, point.value] as const] : []));

    // Per-minute points read per-minute rollups; per-hour points read per-hour rollups; 6-hour points read per-hour
    // rollups and sum six of them each.
    for (const [windowMinutes, pointSec, inside] of [
      [60, 60, [0, 1]],
      [360, 60, [0, 1, 2]],
      [1440, 3600, [0, 1, 2, 3]],
      [43_200, 21_600, [0, 1, 2, 3, 4]],
    ] as const) {
      const tokens = series("tokens", windowMinutes);
      expect(tokens.bucket_seconds).toBe(pointSec);
      const expected = new Map<number, number>();
      for (const index of inside) {
        const point = pointOf(tokens.points, ages[index]!, pointSec);
        expect(point).toBeGreaterThanOrEqual(0);
        expected.set(point, (expected.get(point) ?? 0) + index + 1);
      }
      expect(nonZero(tokens.points)).toEqual([...expected].sort(([a], [b]) => a - b));
      const requests = series("requests", windowMinutes);
      expect(requests.points.reduce((sum, point) => sum + (point.value ?? 0), 0)).toBe(inside.length);
    }
    // One request per per-minute point: its latency's histogram bucket, at the point it started in.
    const latency = series("latency", 360);
    const withLatency = latency.points.flatMap((point, index) => (point.value === null ? [] : [index]));
    expect(withLatency).toEqual([0, 1, 2].map((index) => pointOf(latency.points, ages[index]!, 60)).sort((a, b) => a - b));
    database.close();
  });
});
