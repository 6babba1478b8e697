// Statistics benchmark, runnable alone (`bun tests/bench/stats-db.ts`): query times over 1,000,000 seeded rows, and proxy throughput with recording on vs off.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStatsDatabase } from "../../server/db/client.ts";
import type { RequestRecord } from "../../server/proxy/request-record.ts";
import { startAzureSimulator } from "../../server/simulator/azure-simulator.ts";
import { createStatsRecorder } from "../../server/stats/recorder.ts";
import { createLogger } from "../../server/log.ts";
import { spawnProxy } from "../_support/process.ts";
import { startProxy } from "../_support/proxy.ts";

const ROWS = Number(process.env.STATS_BENCH_ROWS ?? 1_000_000);
/** Rows spread evenly over the last day: a gateway at ~12 requests/s, every window up to a day is full. */
const SPAN_MS = 86_400_000;
const QUERY_RUNS = 7;
const WRK_SECONDS = Number(process.env.STATS_BENCH_SECONDS ?? 5);
const WRK_ROUNDS = Number(process.env.STATS_BENCH_ROUNDS ?? 3);

const work = mkdtempSync(join(tmpdir(), "stats-bench-"));
try {
  await benchQueries();
  await benchThroughput();
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** Deterministic mix: 3 instances, 4 models, 20 client keys, ~15% errors, 5% with a failed attempt. */
function seedRecord(index: number, now: number, random: () => number): RequestRecord {
  const statuses = [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 429, 500, 499];
  const status = statuses[Math.floor(random() * statuses.length)] ?? 200;
  const ok = status === 200;
  return {
    requestId: crypto.randomUUID(),
    startedAt: now - SPAN_MS + (index / ROWS) * SPAN_MS,
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

async function benchQueries(): Promise<void> {
  const path = join(work, "seeded.db");
  const database = openStatsDatabase(path);
  const logger = createLogger({ write: () => {} });
  const recorder = createStatsRecorder({
    database,
    logger,
    now: Date.now,
    flushIntervalMs: 3_600_000,
    maxQueue: ROWS,
    batchRows: 1000,
    retention: { rawDays: 7, rollupDays: 90 },
    pruneIntervalMs: 3_600_000,
  });
  let seed = 1;
  const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
  const now = Date.now();
  const seedStart = performance.now();
  // Through the recorder's own write path, a thousand rows per transaction.
  for (let index = 0; index < ROWS; index++) {
    recorder.record(seedRecord(index, now, random));
    if ((index + 1) % 1000 === 0) recorder.flush();
  }
  recorder.close();
  const seedMs = performance.now() - seedStart;
  const count = (sql: string) => (database.client.query(sql).get() as { n: number }).n;
  console.log(
    `seeded ${count("SELECT count(*) AS n FROM requests")} requests over 24 h in ${(seedMs / 1000).toFixed(1)} s ` +
      `(${((seedMs / ROWS) * 1000).toFixed(1)} µs/row); rollups: ${count("SELECT count(*) AS n FROM rollups")}, ` +
      `latency rollups: ${count("SELECT count(*) AS n FROM latency_rollups")}`,
  );

  await using proxy = await startProxy({ config: { health_check: { enabled: false } }, stats: { recorder, db: database.db }, logLevel: "info" });
  console.log("\nquery (median of 7 over HTTP, ms)        window=60  window=360  window=1440  window=10080");
  for (const [label, path] of [
    ["/stats/", "/stats/?window="],
    ["/stats/usage?metric=tokens", "/stats/usage?metric=tokens&window="],
    ["/stats/usage?metric=latency", "/stats/usage?metric=latency&window="],
    ["/stats/usage?metric=requests&key=team-3", "/stats/usage?metric=requests&key=team-3&window="],
  ] as const) {
    const cells: string[] = [];
    for (const window of [60, 360, 1440, 10_080]) {
      const times: number[] = [];
      for (let run = 0; run < QUERY_RUNS; run++) {
        const started = performance.now();
        const response = await fetch(`${proxy.url}${path}${window}`);
        if (!response.ok) throw new Error(`${path}${window}: ${response.status} ${await response.text()}`);
        await response.arrayBuffer();
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      cells.push((times[Math.floor(times.length / 2)] ?? Number.NaN).toFixed(1).padStart(10));
    }
    console.log(`${label.padEnd(40)}${cells.join("  ")}`);
  }
  database.close();
}

async function benchThroughput(): Promise<void> {
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
