// Statistics benchmark: query times over 1,000,000 seeded rows (used by `bun run bench`); run alone
// (`bun tests/bench/stats-db.ts`) it also compares proxy throughput with recording on vs off.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStatsDatabase } from "../../server/db/client.ts";
import type { RequestRecord } from "../../server/proxy/request-record.ts";
import { startAzureSimulator } from "../../server/simulator/azure-simulator.ts";
import { createStatsRecorder } from "../../server/stats/recorder.ts";
import { requestRowsOf, toFailedAttemptRows } from "../../server/stats/rows.ts";
import { createBatchWriter } from "../../server/stats/write.ts";
import { median } from "./stats.ts";
import { createLogger } from "../../server/log.ts";
import { spawnProxy } from "../_support/process.ts";
import { startProxy } from "../_support/proxy.ts";

const MIGRATIONS_DIR = join(import.meta.dir, "..", "..", "drizzle");
const ROWS = Number(process.env.STATS_BENCH_ROWS ?? 1_000_000);
/** Rows spread evenly over the last day: a gateway at ~12 requests/s, every window up to a day is full. */
const SPAN_MS = 86_400_000;
const QUERY_RUNS = 7;
const WRK_SECONDS = Number(process.env.STATS_BENCH_SECONDS ?? 5);
const WRK_ROUNDS = Number(process.env.STATS_BENCH_ROUNDS ?? 3);

/** The endpoints and parameters timed; each is asked for these windows (minutes). */
const QUERIES = [
  ["/stats/", "/stats/?window="],
  ["/stats/usage?metric=tokens", "/stats/usage?metric=tokens&window="],
  ["/stats/usage?metric=latency", "/stats/usage?metric=latency&window="],
  ["/stats/usage?metric=requests&key=team-3", "/stats/usage?metric=requests&key=team-3&window="],
] as const;
export const QUERY_WINDOWS = [60, 360, 1440, 10_080] as const;

export type QueryTiming = { query: string; windowMinutes: number; medianMs: number };
export type StatsQueryResult = { rows: number; seeded: boolean; seedSeconds: number; timings: QueryTiming[] };

if (import.meta.main) {
  const work = mkdtempSync(join(tmpdir(), "stats-bench-"));
  try {
    const result = await measureStatsQueries({ rows: ROWS, cacheDir: work, runs: QUERY_RUNS, log: (line) => console.log(line) });
    console.log(`\nquery (median of ${QUERY_RUNS} over HTTP, ms)        ${QUERY_WINDOWS.map((window) => `window=${window}`).join("  ")}`);
    for (const [label] of QUERIES) {
      const cells = result.timings.filter((timing) => timing.query === label).map((timing) => timing.medianMs.toFixed(1).padStart(10));
      console.log(`${label.padEnd(40)}${cells.join("  ")}`);
    }
    await benchThroughput(work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Deterministic mix: 3 instances, 4 models, 20 client keys, ~15% errors, 5% with a failed attempt. */
function seedRecord(index: number, rows: number, now: number, random: () => number): RequestRecord {
  const statuses = [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 429, 500, 499];
  const status = statuses[Math.floor(random() * statuses.length)] ?? 200;
  const ok = status === 200;
  return {
    requestId: crypto.randomUUID(),
    startedAt: now - SPAN_MS + (index / rows) * SPAN_MS,
    clientName: `team-${Math.floor(random() * 20)}`,
    model: ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "text-embedding-3-small"][Math.floor(random() * 4)] ?? "gpt-4o",
    endpoint: "/chat/completions",
    stream: random() < 0.5,
    status,
    errorCode: ok ? null : "x",
    instance: `azure-${Math.floor(random() * 3)}`,
    deployment: "d",
    attempts: 1,
    failedAttempts: random() < 0.05 ? [{ instance: "azure-9", status: 429, reason: "throttled", latencyMs: 12 }] : [],
    latencyMs: Math.floor(50 + random() * random() * 4000),
    ttfbMs: Math.floor(20 + random() * 300),
    usage: ok ? { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 } : null,
    usageSource: ok ? "upstream" : null,
    upstreamRequestId: "u",
    region: "East US",
    clientAborted: status === 499,
  };
}

/**
 * Times the stats endpoints over HTTP on a database of `rows` requests spread over the day before its seeding.
 * The seeded file is kept in `cacheDir` (named by row count and schema) and reused: seeding a million rows
 * takes ~15 s, reading it back none. Seeding under a new schema removes the files of older ones. The app is given a clock that starts at the seeding time, so a reused
 * file answers the same windows as a fresh one.
 */
export async function measureStatsQueries(options: { rows: number; cacheDir: string; runs: number; log: (line: string) => void }): Promise<StatsQueryResult> {
  const { rows } = options;
  const schemaTag = Bun.hash(readdirSync(MIGRATIONS_DIR).filter((name) => name.endsWith(".sql")).sort().map((name) => name + readFileSync(join(MIGRATIONS_DIR, name), "utf8").length).join()).toString(36);
  const path = join(options.cacheDir, `stats-${rows}-${schemaTag}.db`);
  const sidecar = `${path}.json`;
  let seeded = false;
  let seedSeconds = 0;
  if (!existsSync(path) || !existsSync(sidecar)) {
    mkdirSync(options.cacheDir, { recursive: true });
    const started = performance.now();
    const partial = `${path}.partial`;
    rmSync(partial, { force: true });
    const now = Date.now();
    seedDatabase(partial, rows, now);
    // Renamed only once complete and closed: an interrupted seed is never mistaken for a finished one.
    renameSync(partial, path);
    writeFileSync(sidecar, JSON.stringify({ rows, seededAt: now }));
    // A file seeded under an older schema is never read again: at ~200 MB each they would pile up.
    for (const name of readdirSync(options.cacheDir)) {
      if (name.startsWith(`stats-${rows}-`) && !name.startsWith(`stats-${rows}-${schemaTag}.`)) rmSync(join(options.cacheDir, name), { force: true });
    }
    seeded = true;
    seedSeconds = (performance.now() - started) / 1000;
    options.log(`stats: seeded ${rows.toLocaleString("en-US")} rows in ${seedSeconds.toFixed(1)} s into ${path} (kept for the next run)`);
  } else {
    options.log(`stats: reusing ${path}`);
  }
  const { seededAt } = JSON.parse(readFileSync(sidecar, "utf8")) as { seededAt: number };
  const database = openStatsDatabase(path);
  const logger = createLogger({ write: () => {} });
  const recorder = createStatsRecorder({
    database,
    logger,
    now: Date.now,
    flushIntervalMs: 3_600_000,
    maxQueue: 1,
    batchRows: 1000,
    retention: { rawDays: 7, rollupDays: 90 },
    pruneIntervalMs: 3_600_000,
  });
  const wallStart = Date.now();
  const timings: QueryTiming[] = [];
  try {
    await using proxy = await startProxy({
      config: { health_check: { enabled: false } },
      stats: { recorder, db: database.db },
      now: () => seededAt + (Date.now() - wallStart),
      logLevel: "info",
    });
    for (const [label, path] of QUERIES) {
      for (const window of QUERY_WINDOWS) {
        const times: number[] = [];
        // One untimed call first: SQLite's page cache and the prepared statements warm up once per query.
        for (let run = -1; run < options.runs; run++) {
          const started = performance.now();
          const response = await fetch(`${proxy.url}${path}${window}`);
          if (!response.ok) throw new Error(`${path}${window}: ${response.status} ${await response.text()}`);
          await response.arrayBuffer();
          if (run >= 0) times.push(performance.now() - started);
        }
        timings.push({ query: label, windowMinutes: window, medianMs: median(times) });
      }
    }
  } finally {
    recorder.close();
    database.close();
  }
  return { rows, seeded, seedSeconds, timings };
}

/** Seeds through the recorder's own batch writer (prepared statements), ten thousand rows per transaction. */
function seedDatabase(path: string, rows: number, now: number): void {
  const database = openStatsDatabase(path);
  const write = createBatchWriter(database);
  let seed = 1;
  const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
  const batch: RequestRecord[] = [];
  for (let index = 0; index < rows; index++) {
    batch.push(seedRecord(index, rows, now, random));
    if (batch.length === 10_000) {
      write({ ...requestRowsOf(batch), failedAttempts: batch.flatMap(toFailedAttemptRows) });
      batch.length = 0;
    }
  }
  write({ ...requestRowsOf(batch), failedAttempts: batch.flatMap(toFailedAttemptRows) });
  database.client.run("PRAGMA wal_checkpoint(TRUNCATE)");
  database.close();
}

async function benchThroughput(work: string): Promise<void> {
  await using simulator = await startAzureSimulator({ apiKey: "bench-key", latencyMs: 0, tokenIntervalMs: 0 });
  const configDir = (name: string, stats: string) => {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "base.yaml"), [
      stats,
      "health_check: { enabled: false }",
      "instances:",
      `  - { name: sim, api_key: bench-key, api_base: "${simulator.url}", supported_models: [gpt-4o] }`,
      "",
    ].join("\n"));
    return dir;
  };
  const onDir = configDir("on", `stats: { database: "${join(work, "throughput.db")}" }`);
  const offDir = configDir("off", "stats: { enabled: false }");
  const script = join(work, "post.lua");
  writeFileSync(
    script,
    [
      'wrk.method = "POST"',
      'wrk.headers["content-type"] = "application/json"',
      `wrk.body = ${JSON.stringify(JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "Hello" }] }))}`,
      "",
    ].join("\n"),
  );
  // Default log level on both sides: spawnProxy waits for the "listening" info line, and the access log costs both alike.
  await using on = await spawnProxy(["--config", onDir], {});
  await using off = await spawnProxy(["--config", offDir], {});
  const wrk = async (url: string): Promise<number> => {
    const child = Bun.spawn(["wrk", "-t1", "-c50", `-d${WRK_SECONDS}s`, "-s", script, `${url}/v1/chat/completions`], { stdout: "pipe", stderr: "pipe" });
    const text = await new Response(child.stdout).text();
    await child.exited;
    const match = /Requests\/sec:\s+([\d.]+)/.exec(text);
    if (!match?.[1] || /Non-2xx/.test(text)) throw new Error(`wrk failed:\n${text}`);
    return Number(match[1]);
  };
  await wrk(on.url);
  await wrk(off.url);
  const results = { on: [] as number[], off: [] as number[] };
  for (let round = 0; round < WRK_ROUNDS; round++) {
    // Alternate, so drift on a shared machine hits both sides alike.
    results.off.push(await wrk(off.url));
    results.on.push(await wrk(on.url));
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  const onRate = median(results.on);
  const offRate = median(results.off);
  console.log(`\nthroughput (wrk -t1 -c50 -d${WRK_SECONDS}s, non-streaming chat, simulator latency 0, median of ${WRK_ROUNDS})`);
  console.log(`  recording off: ${offRate.toFixed(0)} req/s   runs: ${results.off.map((rate) => rate.toFixed(0)).join(", ")}`);
  console.log(`  recording on:  ${onRate.toFixed(0)} req/s   runs: ${results.on.map((rate) => rate.toFixed(0)).join(", ")}`);
  console.log(`  cost of recording: ${(((offRate - onRate) / offRate) * 100).toFixed(1)}%`);
  const metrics = await (await fetch(`${on.url}/metrics`)).text();
  console.log(`  recorder: ${metrics.split("\n").filter((line) => /^proxy_stats_(dropped_total|degraded|queue_depth) /.test(line)).join(", ")}`);
}
