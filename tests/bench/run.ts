// `bun run bench`: the simulator, a trivial pass-through and the proxy, each in its own pinned process, measured in one run.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CLIENT_CORE,
  HAS_CHRT,
  HAS_TASKSET,
  findFreePort,
  killChildrenOnExit,
  pinSelf,
  readLoadAverage,
  readCpuSeconds,
  readPeakRssMiB,
  runTool,
  startServer,
  type ServerChild,
} from "./children.ts";
import { startRedisServer } from "../_support/redis-server.ts";
import { measureLimiterStores } from "./limiter.ts";
import { countRedisTrips } from "./redis-trips.ts";
import {
  checkFloors,
  compare,
  compareVariants,
  medianGrid,
  priceLogging,
  renderReport,
  type BenchExtras,
  type Cell,
  type Grid,
  type LoadStats,
  type RunResult,
  type VariantCell,
} from "./report.ts";
import {
  COMPLETION_TOKENS,
  EMBEDDING_DIMENSIONS,
  SIMULATOR_API_KEY,
  STREAM_FRAMES,
  TARGETS,
  buildScenarios,
  requestFor,
  type Scenario,
  type ScenarioName,
  type TargetName,
  type TargetRequest,
} from "./scenarios.ts";
import type { ProbeInput, ProbeResult } from "./stream-probe.ts";
import { measureStatsQueries } from "./stats-db.ts";
import { VARIANTS, proxyConfigYaml, type VariantName } from "./variants.ts";
import { runWrk, writeWrkScript } from "./wrk.ts";

type Settings = {
  seconds: number;
  latencySeconds: number;
  warmupSeconds: number;
  runs: number;
  connections: number;
  probeRequests: number;
  measureInfoLog: boolean;
  quick: boolean;
  /** Rows in the statistics database the query times are measured on. */
  statsRows: number;
  /** Where the seeded statistics database is kept between runs. */
  statsCacheDir: string;
  limiterSeconds: number;
  redisTripsRequests: number;
};

function readSettings(env: Record<string, string | undefined>): Settings {
  const int = (name: string, fallback: number, minimum: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < minimum) throw new Error(`${name} must be an integer ≥ ${minimum}, got "${raw}"`);
    return value;
  };
  // Defaults keep the whole benchmark near four minutes on the 2-core machine (BENCH_QUICK=1: about one and a
  // half, one run of shorter cells); wrk takes whole seconds only.
  const quick = env.BENCH_QUICK === "1";
  return {
    seconds: int("BENCH_SECONDS", quick ? 2 : 3, 1),
    latencySeconds: int("BENCH_LATENCY_SECONDS", 1, 1),
    // The proxy has far more code than the pass-through for the JIT to tier up: with 1 s the first run still paid
    // for compiling (the Redis-limiter cell read 0.52× after 1 s, 0.75× after 3 s, in the same quick run).
    warmupSeconds: int("BENCH_WARMUP_SECONDS", 3, 0),
    runs: int("BENCH_RUNS", quick ? 1 : 3, 1),
    connections: int("BENCH_CONNECTIONS", 50, 1),
    probeRequests: int("BENCH_PROBE_REQUESTS", quick ? 100 : 300, 10),
    measureInfoLog: env.BENCH_INFO_LOG !== undefined ? env.BENCH_INFO_LOG !== "0" : !quick,
    quick,
    statsRows: int("BENCH_STATS_ROWS", 1_000_000, 1000),
    statsCacheDir: env.BENCH_STATS_CACHE || join(import.meta.dir, "results"),
    limiterSeconds: int("BENCH_LIMITER_SECONDS", quick ? 1 : 2, 1),
    redisTripsRequests: int("BENCH_REDIS_TRIPS_REQUESTS", 200, 10),
  };
}

type Prepared = {
  scenario: Scenario;
  requests: Record<TargetName, TargetRequest>;
  scripts: Record<TargetName, string>;
  /** The same request to the second proxy process (the one logging at info) and its pid; null when that is not measured. */
  info: (TargetRequest & { pid: number }) | null;
  pids: Record<TargetName, number>;
};

/** The chat request to each variant proxy, with its wrk script. */
type PreparedVariant = { name: VariantName; request: TargetRequest; script: string; pid: number };

/** Variants are compared with the baseline proxy on this scenario only: it is the one where per-request work shows most. */
const VARIANT_SCENARIO: ScenarioName = "chat";

const progress = (text: string) => process.stderr.write(`${text}\n`);

/** One request per scenario and target before timing anything: a 4xx or a short stream would make every number meaningless. */
async function checkAnswers(prepared: readonly Prepared[], variants: readonly PreparedVariant[]): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {};
  const all: [string, Scenario, TargetRequest][] = [];
  for (const { scenario, requests, info } of prepared) {
    for (const target of TARGETS) all.push([`${scenario.name}/${target}`, scenario, requests[target]]);
    if (info) all.push([`${scenario.name}/proxy (info)`, scenario, info]);
    if (scenario.name === VARIANT_SCENARIO) for (const variant of variants) all.push([`${scenario.name}/${variant.name}`, scenario, variant.request]);
  }
  for (const [name, scenario, request] of all) {
    const response = await fetch(request.url, { method: "POST", headers: request.headers, body: request.body });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`${name}: status ${response.status}: ${text.slice(0, 300)}`);
    if (scenario.stream) {
      const frames = text.match(/^data:/gm)?.length ?? 0;
      if (frames !== STREAM_FRAMES) throw new Error(`${name}: ${frames} frames, expected ${STREAM_FRAMES}`);
    } else if (scenario.name === "embeddings") {
      const parsed = JSON.parse(text) as { data?: { embedding?: unknown[] }[] };
      const length = parsed.data?.[0]?.embedding?.length;
      if (length !== EMBEDDING_DIMENSIONS) throw new Error(`${name}: embedding of ${String(length)} values, expected ${EMBEDDING_DIMENSIONS}`);
    } else if (!text.includes('"choices"')) {
      throw new Error(`${name}: no choices in ${text.slice(0, 300)}`);
    }
    sizes[name] = new TextEncoder().encode(text).byteLength;
  }
  return sizes;
}

async function probe(request: TargetRequest, requests: number): Promise<ProbeResult> {
  const input: ProbeInput = { ...request, requests, warmup: Math.ceil(requests / 10) };
  const stdout = await runTool(CLIENT_CORE, ["bun", join(import.meta.dir, "stream-probe.ts"), JSON.stringify(input)]);
  return JSON.parse(stdout) as ProbeResult;
}

/** wrk at full load (settings.connections) against one server process, with that process's own CPU per request read from /proc around it. */
async function measureLoad(settings: Settings, scriptPath: string, url: string, pid: number): Promise<LoadStats> {
  const before = readCpuSeconds(pid);
  const result = await runWrk({ scriptPath, url, connections: settings.connections, seconds: settings.seconds });
  const after = readCpuSeconds(pid);
  const cpuUsPerRequest = before === null || after === null || result.requests === 0 ? Number.NaN : ((after - before) * 1e6) / result.requests;
  return { requestsPerSec: result.requestsPerSec, p50Ms: result.p50Ms, p99Ms: result.p99Ms, errors: result.errors, bytesPerRequest: result.bytesPerRequest, cpuUsPerRequest };
}

async function measureOnce(prepared: readonly Prepared[], variants: readonly PreparedVariant[], settings: Settings, run: number): Promise<RunResult> {
  const cells = {} as Grid;
  const variantCells = {} as Record<VariantName, VariantCell>;
  let infoLog: Record<ScenarioName, LoadStats> | null = settings.measureInfoLog ? ({} as Record<ScenarioName, LoadStats>) : null;
  for (const { scenario, requests, scripts, info, pids } of prepared) {
    const row = {} as Record<TargetName, Cell>;
    // Targets alternate within a run, so slow drift (thermal, page cache) spreads over all three alike.
    for (const target of TARGETS) {
      const url = requests[target].url;
      const load = await measureLoad(settings, scripts[target], url, pids[target]);
      const c1 = await runWrk({ scriptPath: scripts[target], url, connections: 1, seconds: settings.latencySeconds });
      const probed = scenario.stream ? await probe(requests[target], settings.probeRequests) : null;
      row[target] = { load, c1: { p50Ms: c1.p50Ms, p99Ms: c1.p99Ms, errors: c1.errors }, probe: probed };
      progress(
        `run ${run} ${scenario.name.padEnd(10)} ${target.padEnd(12)} ${Math.round(load.requestsPerSec).toString().padStart(6)} req/s` +
          `  c=1 p50 ${c1.p50Ms.toFixed(3)} ms${probed ? `  TTFB p50 ${probed.ttfbP50Ms.toFixed(3)} ms` : ""}${load.errors + c1.errors > 0 ? `  ERRORS ${load.errors + c1.errors}` : ""}`,
      );
    }
    cells[scenario.name] = row;
    if (scenario.name === VARIANT_SCENARIO) {
      // Right after the baseline proxy's cell, so the comparison spans seconds, not minutes, of drift.
      for (const variant of variants) {
        // Paired with a baseline cell just before it: a neighbour's burst then hits both sides of the ratio alike.
        const baseline = await measureLoad(settings, scripts.proxy, requests.proxy.url, pids.proxy);
        const load = await measureLoad(settings, variant.script, variant.request.url, variant.pid);
        const c1 = await runWrk({ scriptPath: variant.script, url: variant.request.url, connections: 1, seconds: settings.latencySeconds });
        variantCells[variant.name] = { load, c1: { p50Ms: c1.p50Ms, p99Ms: c1.p99Ms, errors: c1.errors }, baseline };
        progress(
          `run ${run} ${scenario.name.padEnd(10)} ${variant.name.padEnd(12)} ${Math.round(load.requestsPerSec).toString().padStart(6)} req/s  c=1 p50 ${c1.p50Ms.toFixed(3)} ms` +
            `  (baseline just before: ${Math.round(baseline.requestsPerSec)} req/s)` +
            `${load.errors + c1.errors > 0 ? `  ERRORS ${load.errors + c1.errors}` : ""}`,
        );
      }
    }
    if (infoLog && info) {
      const load = await measureLoad(settings, scripts.proxy, info.url, info.pid);
      infoLog[scenario.name] = load;
      progress(`run ${run} ${scenario.name.padEnd(10)} proxy (info) ${Math.round(load.requestsPerSec).toString().padStart(6)} req/s`);
    } else {
      infoLog = null;
    }
  }
  return { cells, infoLog, variants: variants.length > 0 ? variantCells : null };
}

async function main(): Promise<void> {
  killChildrenOnExit();
  const settings = readSettings(process.env);
  pinSelf(CLIENT_CORE);
  if (!Bun.which("wrk")) throw new Error("wrk is not on PATH");
  const started = performance.now();
  const loadBefore = readLoadAverage();
  const dir = mkdtempSync(join(tmpdir(), "proxy-bench-"));
  // Ctrl-C exits through the signal handler, past the finally below: the temp dir goes on every exit path.
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const servers: ServerChild[] = [];
  let redis: Awaited<ReturnType<typeof startRedisServer>> | undefined;
  try {
    progress(`bench: ${settings.runs} run(s) × ${settings.seconds}s load + ${settings.latencySeconds}s at c=1 per cell; taskset ${HAS_TASKSET ? "on" : "missing, unpinned"}, simulator ${HAS_CHRT ? "SCHED_BATCH" : "at normal priority (no chrt)"}`);
    const simulator = await startServer("simulator", ["bun", "tests/bench/simulator-server.ts"], {
      SIM_API_KEY: SIMULATOR_API_KEY,
      SIM_COMPLETION_TOKENS: String(COMPLETION_TOKENS),
      SIM_EMBEDDING_DIMENSIONS: String(EMBEDDING_DIMENSIONS),
    }, { kind: "listening-line" }, "batch");
    servers.push(simulator);
    const passThrough = await startServer("pass-through", ["bun", "tests/bench/pass-through.ts"], { UPSTREAM_URL: simulator.url });
    servers.push(passThrough);
    const configDir = join(dir, "config");
    mkdirSync(configDir);
    writeFileSync(join(configDir, "base.yaml"), proxyConfigYaml(simulator.url, "baseline", null));
    const proxyCommand = ["bun", "server/main.ts", "--config", configDir];
    // main.ts logs "listening" at info, which LOG_LEVEL=warn hides: these proxies get a known port and are polled on /health.
    const startQuietProxy = async (name: string, command: string[], statsFile: string) => {
      const port = findFreePort();
      const server = await startServer(
        name,
        command,
        { PORT: String(port), LOG_LEVEL: "warn", BENCH_STATS_DATABASE: join(dir, statsFile) },
        { kind: "health", port, healthPath: "/health" },
      );
      servers.push(server);
      return server;
    };
    const proxy = await startQuietProxy("proxy", proxyCommand, "stats-warn.db");

    // The bench's own redis-server on a free port (never the shared 6379). It runs on the client core: in production
    // Redis is another machine, so what the limiter costs the proxy is the proxy's own work per call (the servers'
    // core), not Redis's script time. wrk leaves the client core enough room for it (about 7 µs of script time per
    // reservation).
    redis = await startRedisServer();
    // Ctrl-C leaves through process.exit, past the finally below: SIGKILL goes out synchronously from kill().
    const ownRedis = redis;
    process.on("exit", () => void ownRedis.kill());
    const redisPid = Number(/process_id:(\d+)/.exec(await redis.cli(["INFO", "server"]))?.[1]);
    if (HAS_TASKSET && redisPid > 0) Bun.spawnSync(["taskset", "-a", "-p", "-c", String(CLIENT_CORE), String(redisPid)], { stdout: "ignore", stderr: "ignore" });
    // wrk keeps the client core busy: at equal priority a woken Redis waits for wrk's time slice, and every reserve
    // took milliseconds, which capped the limited proxy near 4,700 req/s whatever its own cost. Redis on its own
    // machine answers at once; a higher priority here does the same.
    const reniced = redisPid > 0 && Bun.spawnSync(["renice", "-n", "-10", "-p", String(redisPid)], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
    if (!reniced) progress("redis: could not raise its priority (renice needs root): the Redis limiter cell may be capped by Redis waiting behind wrk");
    const variantServers = {} as Record<VariantName, ServerChild>;
    for (const variant of VARIANTS) {
      const variantDir = join(dir, `config-${variant}`);
      mkdirSync(variantDir);
      writeFileSync(join(variantDir, "base.yaml"), proxyConfigYaml(simulator.url, variant, redis.url));
      variantServers[variant] = await startQuietProxy(`proxy ${variant}`, ["bun", "server/main.ts", "--config", variantDir], `stats-${variant}.db`);
    }
    let infoProxy: ServerChild | undefined;
    if (settings.measureInfoLog) {
      infoProxy = await startServer("proxy (info)", proxyCommand, { PORT: "0", LOG_LEVEL: "info", BENCH_STATS_DATABASE: join(dir, "stats-info.db") });
      servers.push(infoProxy);
    }
    const targets: Record<TargetName, ServerChild> = { direct: simulator, "pass-through": passThrough, proxy };

    const prepared: Prepared[] = buildScenarios().map((scenario) => {
      const requests = {} as Record<TargetName, TargetRequest>;
      const scripts = {} as Record<TargetName, string>;
      for (const target of TARGETS) {
        requests[target] = requestFor(scenario, target, targets[target].url);
        scripts[target] = writeWrkScript(dir, `${scenario.name}-${target}`, requests[target]);
      }
      const pids = { direct: simulator.pid, "pass-through": passThrough.pid, proxy: proxy.pid };
      const info = infoProxy ? { ...requestFor(scenario, "proxy", infoProxy.url), pid: infoProxy.pid } : null;
      return { scenario, requests, scripts, info, pids };
    });
    const variantScenario = prepared.find(({ scenario }) => scenario.name === VARIANT_SCENARIO)?.scenario;
    if (!variantScenario) throw new Error(`no ${VARIANT_SCENARIO} scenario`);
    const variants: PreparedVariant[] = VARIANTS.map((name) => {
      const request = requestFor(variantScenario, "proxy", variantServers[name].url);
      return { name, request, script: writeWrkScript(dir, `${variantScenario.name}-${name}`, request), pid: variantServers[name].pid };
    });
    const sizes = await checkAnswers(prepared, variants);
    progress(`answers checked; bytes: ${Object.entries(sizes).map(([name, bytes]) => `${name}=${bytes}`).join(" ")}`);

    if (settings.warmupSeconds > 0) {
      for (const { scenario, requests, scripts, info } of prepared) {
        const urls: [string, string][] = TARGETS.map((target) => [scripts[target], requests[target].url]);
        if (info) urls.push([scripts.proxy, info.url]);
        if (scenario.name === VARIANT_SCENARIO) for (const variant of variants) urls.push([variant.script, variant.request.url]);
        for (const [scriptPath, url] of urls) await runWrk({ scriptPath, url, connections: settings.connections, seconds: settings.warmupSeconds });
      }
      progress("warm-up done");
    }

    const runs: RunResult[] = [];
    for (let run = 1; run <= settings.runs; run++) runs.push(await measureOnce(prepared, variants, settings, run));

    const limited = variants.find((variant) => variant.name === "redis-limiter");
    if (!limited) throw new Error("no Redis limiter variant");
    const redisTrips = await countRedisTrips(redis.port, limited.request, settings.redisTripsRequests);
    progress(`redis: ${redisTrips.reservePerRequest.toFixed(2)} reserve + ${redisTrips.adjustPerRequest.toFixed(2)} adjust + ${redisTrips.otherPerRequest.toFixed(2)} other commands per request`);
    // The proxies are idle now: the raw store rate is Redis's and this client's alone.
    const limiterOps = await measureLimiterStores(redis.url, settings.limiterSeconds);
    progress(`limiter: ${limiterOps.redis.opsPerSecond} reserves/s against Redis with ${limiterOps.redis.inFlight} in flight`);
    const statsQueries = await measureStatsQueries({ rows: settings.statsRows, cacheDir: settings.statsCacheDir, runs: settings.quick ? 3 : 7, log: progress });
    const extras: BenchExtras = { redisTrips, limiterOps, statsQueries };

    const memory: Record<string, number | null> = {};
    for (const server of servers) memory[server.name] = readPeakRssMiB(server.pid);
    const logBytes = infoProxy ? infoProxy.stdoutBytes() : null;

    const result = medianGrid(runs);
    const labels = Object.fromEntries(prepared.map(({ scenario }) => [scenario.name, scenario.label])) as Record<ScenarioName, string>;
    const lines = renderReport({ result, samples: runs, loadBefore, labels, connections: settings.connections, runs: settings.runs, memory, extras });
    if (logBytes !== null) lines.push("", `Access log written at info: ${(logBytes / 1024 / 1024).toFixed(1)} MiB over the whole bench`);
    const elapsedSec = (performance.now() - started) / 1000;
    lines.push("", `Bench took ${elapsedSec.toFixed(0)} s. Results: tests/bench/results/latest.json`);
    console.log(lines.join("\n"));

    const comparisons = compare(result.cells, runs);
    const resultsDir = join(import.meta.dir, "results");
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      join(resultsDir, "latest.json"),
      `${JSON.stringify(
        {
          generatedAt: new Date().toISOString(),
          bun: Bun.version,
          cores: navigator.hardwareConcurrency,
          pinned: HAS_TASKSET,
          loadAverageBefore: loadBefore,
          loadAverageAfter: readLoadAverage(),
          settings,
          scenarios: Object.fromEntries(prepared.map(({ scenario }) => [scenario.name, { label: scenario.label, requestBytes: scenario.body.length }])),
          responseBytes: sizes,
          median: result,
          comparisons,
          logCost: priceLogging(result),
          variants: result.variants ? compareVariants(result, runs) : null,
          redisTrips,
          limiterOps,
          statsQueries,
          floors: checkFloors(comparisons, { variants: result.variants ? compareVariants(result, runs) : [], extras }),
          peakRssMiB: memory,
          accessLogBytes: logBytes,
          elapsedSec,
          runs,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    // Reverse order: the proxies first, so none of them logs errors about a vanished upstream.
    for (const server of servers.reverse()) await server.stop().catch(() => {});
    await Promise.resolve(redis?.[Symbol.asyncDispose]()).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
