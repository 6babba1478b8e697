// Turns measured cells into the comparisons, floors and table the benchmark prints: pure, so the numbers can be re-rendered from JSON.
import { SCENARIOS, TARGETS, type ScenarioName, type TargetName } from "./scenarios.ts";
import { median, medianOf } from "./stats.ts";
import type { RedisTrips } from "./redis-trips.ts";
import type { StatsQueryResult } from "./stats-db.ts";
import type { ProbeResult } from "./stream-probe.ts";
import { VARIANTS, VARIANT_LABELS, type VariantName } from "./variants.ts";

export type LoadStats = {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  bytesPerRequest: number;
  /** The target process's own CPU (every thread) per request under load; NaN where /proc is not available. */
  cpuUsPerRequest: number;
};
export type LatencyStats = { p50Ms: number; p99Ms: number; errors: number };
export type Cell = { load: LoadStats; c1: LatencyStats; probe: ProbeResult | null };
export type Grid = Record<ScenarioName, Record<TargetName, Cell>>;
/** A variant's cells, with the baseline proxy measured just before it (the pair its ratio is taken from). */
export type VariantCell = { load: LoadStats; c1: LatencyStats; baseline: LoadStats };
export type RunResult = {
  cells: Grid;
  infoLog: Record<ScenarioName, LoadStats> | null;
  /** The variant proxies on the chat scenario; null when not measured. */
  variants: Record<VariantName, VariantCell> | null;
};

type StoreRate = { inFlight: number; opsPerSecond: number; callerCpuMicrosPerOp: number; p50Ms: number; p99Ms: number };
/** Measured once per bench, after the throughput runs. */
export type BenchExtras = {
  redisTrips: RedisTrips;
  limiterOps: { redis: StoreRate; redisSequential: StoreRate; memory: StoreRate };
  statsQueries: StatsQueryResult;
};

/**
 * A ratio of two cells taken within each run, where they were measured seconds apart, then the median over the runs.
 * A machine that drifts between runs moves both cells of a run together; a ratio of the two cells' medians across
 * runs would pair a fast run's numerator with a slow run's denominator.
 */
export type RunRatios = { median: number; min: number; max: number; runs: number };

export type VariantComparison = {
  variant: VariantName;
  requestsPerSec: number;
  baselineRequestsPerSec: number;
  /** With the feature on ÷ with it off, per run (see RunRatios): the variant ÷ the baseline proxy for redis-limiter, the inverse for stats-off. */
  onOverOff: number;
  onOverOffRuns: RunRatios | null;
  /** The same from the medians of the runs' req/s (what the bench reported before it paired the runs). */
  onOverOffOfMedians: number;
  addedP50AtC1Ms: number;
  /** The feature's own CPU per request in the proxy process: with it minus without it (steadier than the req/s ratio). */
  addedCpuUsPerRequest: number;
};

export type Comparison = {
  scenario: ScenarioName;
  /** Per run (see RunRatios); with one run, that run's ratio. */
  proxyOverPassThrough: number;
  proxyOverPassThroughRuns: RunRatios | null;
  /** The same from the medians of the runs' req/s (what the bench reported before it paired the runs). */
  proxyOverPassThroughOfMedians: number;
  proxyOverDirect: number;
  passThroughOverDirect: number;
  /** Proxy minus pass-through, wrk at one connection. */
  addedP50AtC1Ms: number;
  /** Core-0 time per request (1e6 / req/s with the servers' core saturated), proxy minus pass-through. */
  addedCoreUsPerRequest: number;
  /** The processes' own CPU per request (from /proc), proxy minus pass-through: the simulator's share is not in it. */
  addedProcessCpuUsPerRequest: number;
  ttfbDiffMs: number | null;
  lastByteDiffMs: number | null;
};

export type LogCost = { scenario: ScenarioName; warnRequestsPerSec: number; infoRequestsPerSec: number; ratio: number; addedCoreUsPerRequest: number };
export type Floor = { name: string; measured: string; limit: string; pass: boolean };
export type MemoryReport = Record<string, number | null>;

export const FLOOR_THROUGHPUT_RATIO = 0.7;
export const FLOOR_ADDED_P50_MS = 0.5;
export const FLOOR_TTFB_DIFF_MS = 0.5;
/** Issue 4: the Redis limiter costs at most 15% of the proxy's throughput, and at most one awaited round trip. */
export const FLOOR_LIMITER_RATIO = 0.85;
export const FLOOR_REDIS_TRIPS = 1;
/** Issue 5: recording statistics costs at most 5%; each stats query over a million rows answers within 100 ms. */
export const FLOOR_STATS_RATIO = 0.95;
export const FLOOR_STATS_QUERY_MS = 100;

export function medianGrid(runs: readonly RunResult[]): RunResult {
  const cells = {} as Grid;
  for (const scenario of SCENARIOS) {
    const row = {} as Record<TargetName, Cell>;
    for (const target of TARGETS) {
      const samples = runs.map((run) => run.cells[scenario][target]);
      const probes = samples.flatMap((cell) => (cell.probe ? [cell.probe] : []));
      row[target] = {
        load: medianOf(samples.map((cell) => cell.load)),
        c1: medianOf(samples.map((cell) => cell.c1)),
        probe: probes.length > 0 ? medianOf(probes) : null,
      };
    }
    cells[scenario] = row;
  }
  const infoRuns = runs.flatMap((run) => (run.infoLog ? [run.infoLog] : []));
  let infoLog: RunResult["infoLog"] = null;
  if (infoRuns.length > 0) {
    const medians = {} as Record<ScenarioName, LoadStats>;
    for (const scenario of SCENARIOS) medians[scenario] = medianOf(infoRuns.map((run) => run[scenario]));
    infoLog = medians;
  }
  const variantRuns = runs.flatMap((run) => (run.variants ? [run.variants] : []));
  let variants: RunResult["variants"] = null;
  if (variantRuns.length > 0) {
    const medians = {} as Record<VariantName, VariantCell>;
    for (const variant of VARIANTS) {
      medians[variant] = {
        load: medianOf(variantRuns.map((run) => run[variant].load)),
        c1: medianOf(variantRuns.map((run) => run[variant].c1)),
        baseline: medianOf(variantRuns.map((run) => run[variant].baseline)),
      };
    }
    variants = medians;
  }
  return { cells, infoLog, variants };
}

/** The median, lowest and highest of per-run ratios; null for no runs. */
export function runRatios(ratios: readonly number[]): RunRatios | null {
  const finite = ratios.filter((ratio) => Number.isFinite(ratio));
  if (finite.length === 0) return null;
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), runs: finite.length };
}

/**
 * Each variant against the baseline proxy (stats on, no limiter) measured just before it, on the chat scenario; c=1
 * against the main cell. `samples`: the runs behind `result`, for the per-run ratios (without them, the medians').
 */
export function compareVariants(result: RunResult, samples: readonly RunResult[] = []): VariantComparison[] {
  const { variants } = result;
  if (!variants) return [];
  const baseline = result.cells.chat.proxy;
  // The baseline has statistics on and no limiter: for stats-off the feature is on in the baseline, off in the variant.
  const onAndOff = <Side>(variant: VariantName, variantSide: Side, baselineSide: Side): [Side, Side] =>
    variant === "stats-off" ? [baselineSide, variantSide] : [variantSide, baselineSide];
  const onOverOffOf = (variant: VariantName, cell: Pick<VariantCell, "load" | "baseline">) => {
    const [on, off] = onAndOff(variant, cell.load, cell.baseline);
    return on.requestsPerSec / off.requestsPerSec;
  };
  return VARIANTS.map((variant) => {
    const cell = variants[variant];
    const [on, off] = onAndOff(variant, { load: cell.load, c1: cell.c1 }, { load: cell.baseline, c1: baseline.c1 });
    const ofMedians = onOverOffOf(variant, cell);
    const runs = runRatios(samples.flatMap((run) => (run.variants ? [onOverOffOf(variant, run.variants[variant])] : [])));
    return {
      variant,
      requestsPerSec: cell.load.requestsPerSec,
      baselineRequestsPerSec: cell.baseline.requestsPerSec,
      onOverOff: runs?.median ?? ofMedians,
      onOverOffRuns: runs,
      onOverOffOfMedians: ofMedians,
      addedP50AtC1Ms: on.c1.p50Ms - off.c1.p50Ms,
      addedCpuUsPerRequest: on.load.cpuUsPerRequest - off.load.cpuUsPerRequest,
    };
  });
}

const coreUs = (requestsPerSec: number) => 1e6 / requestsPerSec;

/** `samples`: the runs behind `grid`, for the per-run proxy ÷ pass-through ratios (without them, the medians'). */
export function compare(grid: Grid, samples: readonly RunResult[] = []): Comparison[] {
  return SCENARIOS.map((scenario) => {
    const { direct, proxy } = grid[scenario];
    const pass = grid[scenario]["pass-through"];
    const ofMedians = proxy.load.requestsPerSec / pass.load.requestsPerSec;
    const runs = runRatios(
      samples.map((run) => run.cells[scenario].proxy.load.requestsPerSec / run.cells[scenario]["pass-through"].load.requestsPerSec),
    );
    return {
      scenario,
      proxyOverPassThrough: runs?.median ?? ofMedians,
      proxyOverPassThroughRuns: runs,
      proxyOverPassThroughOfMedians: ofMedians,
      proxyOverDirect: proxy.load.requestsPerSec / direct.load.requestsPerSec,
      passThroughOverDirect: pass.load.requestsPerSec / direct.load.requestsPerSec,
      addedP50AtC1Ms: proxy.c1.p50Ms - pass.c1.p50Ms,
      addedCoreUsPerRequest: coreUs(proxy.load.requestsPerSec) - coreUs(pass.load.requestsPerSec),
      addedProcessCpuUsPerRequest: proxy.load.cpuUsPerRequest - pass.load.cpuUsPerRequest,
      ttfbDiffMs: proxy.probe && pass.probe ? proxy.probe.ttfbP50Ms - pass.probe.ttfbP50Ms : null,
      lastByteDiffMs: proxy.probe && pass.probe ? proxy.probe.lastP50Ms - pass.probe.lastP50Ms : null,
    };
  });
}

export function priceLogging(result: RunResult): LogCost[] {
  const { infoLog } = result;
  if (!infoLog) return [];
  return SCENARIOS.map((scenario) => {
    const warn = result.cells[scenario].proxy.load.requestsPerSec;
    const info = infoLog[scenario].requestsPerSec;
    return { scenario, warnRequestsPerSec: warn, infoRequestsPerSec: info, ratio: info / warn, addedCoreUsPerRequest: coreUs(info) - coreUs(warn) };
  });
}

export function checkFloors(
  comparisons: readonly Comparison[],
  more: { variants: readonly VariantComparison[]; extras: BenchExtras | null } = { variants: [], extras: null },
): Floor[] {
  const of = (scenario: ScenarioName) => comparisons.find((comparison) => comparison.scenario === scenario);
  const chat = of("chat");
  const stream = of("stream");
  // Rounded down, to three decimals: a ratio just under its floor must not print as the floor next to a FAIL.
  const ratioText = (value: number | undefined) => (value === undefined ? "n/a" : `${(Math.floor(value * 1000) / 1000).toFixed(3)}×`);
  const ratioFloor = (name: string, value: number | undefined): Floor => ({
    name,
    measured: ratioText(value),
    limit: `≥ ${FLOOR_THROUGHPUT_RATIO}×`,
    pass: value !== undefined && value >= FLOOR_THROUGHPUT_RATIO,
  });
  const msFloor = (name: string, value: number | null | undefined, limit: number): Floor => ({
    name,
    measured: value === null || value === undefined ? "n/a" : `${signed(value, 3)} ms`,
    limit: `≤ ${limit} ms`,
    pass: value !== null && value !== undefined && value <= limit,
  });
  const floors = [
    ratioFloor("chat throughput, proxy ÷ pass-through", chat?.proxyOverPassThrough),
    ratioFloor("stream throughput, proxy ÷ pass-through", stream?.proxyOverPassThrough),
    msFloor("chat added p50 at c=1", chat?.addedP50AtC1Ms, FLOOR_ADDED_P50_MS),
    msFloor("stream TTFB p50 vs pass-through (c=1)", stream?.ttfbDiffMs, FLOOR_TTFB_DIFF_MS),
  ];
  const variantFloor = (variant: VariantName, name: string, limit: number): Floor => {
    const value = more.variants.find((comparison) => comparison.variant === variant)?.onOverOff;
    return { name, measured: ratioText(value), limit: `≥ ${limit}×`, pass: value !== undefined && value >= limit };
  };
  floors.push(variantFloor("redis-limiter", "chat throughput, Redis limiter on ÷ off", FLOOR_LIMITER_RATIO));
  const trips = more.extras?.redisTrips.reservePerRequest;
  floors.push({
    name: "Redis round trips awaited per request",
    measured: trips === undefined ? "n/a" : trips.toFixed(2),
    limit: `≤ ${FLOOR_REDIS_TRIPS}`,
    pass: trips !== undefined && trips <= FLOOR_REDIS_TRIPS,
  });
  floors.push(variantFloor("stats-off", "chat throughput, stats recording on ÷ off", FLOOR_STATS_RATIO));
  const timings = more.extras?.statsQueries.timings ?? [];
  for (const endpoint of ["/stats/", "/stats/usage"]) {
    const mine = timings.filter((timing) => (endpoint === "/stats/" ? timing.query === "/stats/" : timing.query.startsWith(endpoint)));
    const slowest = mine.length === 0 ? undefined : Math.max(...mine.map((timing) => timing.medianMs));
    floors.push({
      name: `slowest ${endpoint} query over ${more.extras?.statsQueries.rows.toLocaleString("en-US") ?? "?"} rows`,
      measured: slowest === undefined ? "n/a" : `${slowest.toFixed(1)} ms`,
      limit: `< ${FLOOR_STATS_QUERY_MS} ms`,
      pass: slowest !== undefined && slowest < FLOOR_STATS_QUERY_MS,
    });
  }
  return floors;
}

/** Above this 1-minute load average before start, something else was using a good part of a core. */
const BUSY_LOAD = 0.5;

/** Runs of one cell on a quiet machine agree within a few per cent; ±10% or more means interference. */
const NOISY_SPREAD = 0.2;

/** (max − min) ÷ median; 0 for fewer than two runs. */
function spreadRatio(values: readonly number[]): number {
  return values.length < 2 ? 0 : (Math.max(...values) - Math.min(...values)) / median(values);
}

function spreadOf(values: readonly number[]): string {
  return values.length < 2 ? "–" : `±${(50 * spreadRatio(values)).toFixed(0)}%`;
}

/** "+1.2" / "-0.4"; "–" for a figure that could not be measured (CPU where /proc is missing). */
function signed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return "–";
  return `${value >= 0 ? "+" : ""}${value.toFixed(digits)}`;
}

/** "0.64–0.77×" over two runs or more; "–" for one. */
function rangeOf(runs: RunRatios | null): string {
  return runs === null || runs.runs < 2 ? "–" : `${runs.min.toFixed(2)}–${runs.max.toFixed(2)}×`;
}

const num = (value: number | undefined, digits: number) => (value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits));
const count = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "–");

/** Pads columns: the first two left-aligned (names), the rest right-aligned (numbers). */
export function alignColumns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd(),
  );
}

export type ReportInput = {
  result: RunResult;
  /** The individual runs behind the medians, to show how much they disagreed. */
  samples: readonly RunResult[];
  /** 1-minute load average before the benchmark started anything: other work on the machine skews every number. */
  loadBefore: number | null;
  labels: Record<ScenarioName, string>;
  connections: number;
  runs: number;
  memory: MemoryReport;
  extras?: BenchExtras;
};

export function renderReport(input: ReportInput): string[] {
  const { result, labels, connections } = input;
  const comparisons = compare(result.cells, input.samples);
  const lines: string[] = [];
  lines.push(`Throughput and latency (medians of ${input.runs} run${input.runs === 1 ? "" : "s"}; ms unless noted)`);
  const header = ["scenario", "target", "req/s", "spread", "p50", "p99", "µs/req", "cpu µs", "c=1 p50", "c=1 p99", "TTFB p50", "TTFB p99", "last p50", "last p99", "errors"];
  const rows: string[][] = [header];
  for (const scenario of SCENARIOS) {
    for (const target of TARGETS) {
      const cell = result.cells[scenario][target];
      rows.push([
        target === "direct" ? labels[scenario] : "",
        target,
        count(cell.load.requestsPerSec),
        spreadOf(input.samples.map((run) => run.cells[scenario][target].load.requestsPerSec)),
        num(cell.load.p50Ms, 2),
        num(cell.load.p99Ms, 2),
        num(coreUs(cell.load.requestsPerSec), 1),
        num(cell.load.cpuUsPerRequest, 1),
        num(cell.c1.p50Ms, 3),
        num(cell.c1.p99Ms, 3),
        num(cell.probe?.ttfbP50Ms, 3),
        num(cell.probe?.ttfbP99Ms, 3),
        num(cell.probe?.lastP50Ms, 3),
        num(cell.probe?.lastP99Ms, 3),
        String(cell.load.errors + cell.c1.errors),
      ]);
    }
  }
  lines.push(...alignColumns(rows));
  lines.push(
    `  req/s, p50, p99: wrk -t1 -c${connections}, last byte · spread: (max − min) ÷ median of req/s over the runs`,
    "  µs/req: 1e6 ÷ req/s, the servers' core time per request (the upstream simulator's share included)",
    "  cpu µs: the target process's own CPU (user + system, all threads, from /proc) per request under load; steadier than req/s",
    "  c=1: wrk -c1 · TTFB / last: sequential fetch + reader, first body chunk / end of body",
    "",
    "Proxy compared with the trivial pass-through",
  );
  const compareRows: string[][] = [
    ["scenario", "", "proxy ÷ pass", "runs' range", "of medians", "proxy ÷ direct", "pass ÷ direct", "added µs/req", "added cpu µs", "added p50 c=1", "TTFB diff", "last-byte diff"],
  ];
  for (const comparison of comparisons) {
    compareRows.push([
      labels[comparison.scenario],
      "",
      `${num(comparison.proxyOverPassThrough, 2)}×`,
      rangeOf(comparison.proxyOverPassThroughRuns),
      `${num(comparison.proxyOverPassThroughOfMedians, 2)}×`,
      `${num(comparison.proxyOverDirect, 2)}×`,
      `${num(comparison.passThroughOverDirect, 2)}×`,
      signed(comparison.addedCoreUsPerRequest, 1),
      signed(comparison.addedProcessCpuUsPerRequest, 1),
      `${signed(comparison.addedP50AtC1Ms, 3)} ms`,
      comparison.ttfbDiffMs === null ? "–" : `${signed(comparison.ttfbDiffMs, 3)} ms`,
      comparison.lastByteDiffMs === null ? "–" : `${signed(comparison.lastByteDiffMs, 3)} ms`,
    ]);
  }
  lines.push(...alignColumns(compareRows));
  lines.push(
    "  proxy ÷ pass: each run's proxy req/s ÷ its pass-through req/s (measured seconds apart), median over the runs; the floors use it",
    "  of medians: the median proxy req/s ÷ the median pass-through req/s, which pairs cells from different runs",
  );

  const logCosts = priceLogging(result);
  if (logCosts.length > 0) {
    lines.push("", "Access log cost (proxy at LOG_LEVEL=info vs warn, c=" + String(connections) + ")");
    const logRows: string[][] = [["scenario", "", "warn req/s", "info req/s", "info ÷ warn", "added µs/req"]];
    for (const cost of logCosts) {
      logRows.push([labels[cost.scenario], "", count(cost.warnRequestsPerSec), count(cost.infoRequestsPerSec), `${num(cost.ratio, 2)}×`, signed(cost.addedCoreUsPerRequest, 1)]);
    }
    lines.push(...alignColumns(logRows));
  }

  const variantComparisons = compareVariants(result, input.samples);
  if (variantComparisons.length > 0) {
    lines.push("", `Proxy configurations on ${labels.chat}, c=${connections} (baseline: the proxy as above, stats on, no limiter, measured just before each)`);
    const variantRows: string[][] = [["configuration", "", "req/s", "baseline req/s", "on ÷ off", "runs' range", "of medians", "added cpu µs", "added p50 c=1"]];
    for (const comparison of variantComparisons) {
      variantRows.push([
        VARIANT_LABELS[comparison.variant],
        "",
        count(comparison.requestsPerSec),
        count(comparison.baselineRequestsPerSec),
        `${num(comparison.onOverOff, 2)}×`,
        rangeOf(comparison.onOverOffRuns),
        `${num(comparison.onOverOffOfMedians, 2)}×`,
        signed(comparison.addedCpuUsPerRequest, 1),
        `${signed(comparison.addedP50AtC1Ms, 3)} ms`,
      ]);
    }
    lines.push(...alignColumns(variantRows));
    lines.push(
      "  on ÷ off: throughput with the feature ÷ without it (Redis limiter: variant ÷ baseline; stats: baseline ÷ variant), per run, median",
      "  added cpu µs: the proxy process's CPU per request with the feature minus without it",
    );
  }
  const extras = input.extras;
  if (extras) {
    const trips = extras.redisTrips;
    lines.push(
      "",
      `Redis commands per proxied request (MONITOR over ${trips.requests} sequential chat requests)`,
      `  reserve (awaited, on the request path): ${trips.reservePerRequest.toFixed(2)}   adjust (reconciliation, not awaited): ${trips.adjustPerRequest.toFixed(2)}   other: ${trips.otherPerRequest.toFixed(2)}`,
      `  commands seen: ${Object.entries(trips.commands).map(([name, calls]) => `${name}=${calls}`).join(" ") || "none"}`,
      "",
      "Raw check-and-reserve against the bench's redis-server (no proxy)",
    );
    const opsRows: string[][] = [["store", "", "in flight", "reserves/s", "p50 ms", "p99 ms", "caller µs/op"]];
    for (const [name, rate] of [["redis", extras.limiterOps.redis], ["redis, one at a time", extras.limiterOps.redisSequential], ["in-process memory", extras.limiterOps.memory]] as const) {
      opsRows.push([name, "", String(rate.inFlight), count(rate.opsPerSecond), num(rate.p50Ms, 3), num(rate.p99Ms, 3), num(rate.callerCpuMicrosPerOp, 1)]);
    }
    lines.push(...alignColumns(opsRows), "  p50/p99: one reserve at a time (latency); reserves/s: with the in-flight count shown");
    const { statsQueries } = extras;
    const windows = [...new Set(statsQueries.timings.map((timing) => timing.windowMinutes))];
    lines.push(
      "",
      `Stats queries over ${statsQueries.rows.toLocaleString("en-US")} rows spread over a day (median ms over HTTP; ${statsQueries.seeded ? `seeded in ${statsQueries.seedSeconds.toFixed(1)} s` : "seeded file reused"})`,
    );
    const queryRows: string[][] = [["query", "", ...windows.map((window) => `window=${window}`)]];
    for (const query of [...new Set(statsQueries.timings.map((timing) => timing.query))]) {
      queryRows.push([
        query,
        "",
        ...windows.map((window) => num(statsQueries.timings.find((timing) => timing.query === query && timing.windowMinutes === window)?.medianMs, 1)),
      ]);
    }
    lines.push(...alignColumns(queryRows));
  }

  lines.push("", "Peak RSS (VmHWM)");
  for (const [name, mib] of Object.entries(input.memory)) lines.push(`  ${name.padEnd(16)} ${mib === null ? "n/a" : `${mib.toFixed(1)} MiB`}`);

  if (input.loadBefore !== null && input.loadBefore > BUSY_LOAD) {
    lines.push("", `WARNING: load average was ${input.loadBefore.toFixed(2)} before the bench started: other work shared the cores, numbers are noisy.`);
  }
  const widest = Math.max(...SCENARIOS.flatMap((scenario) => TARGETS.map((target) => spreadRatio(input.samples.map((run) => run.cells[scenario][target].load.requestsPerSec)))));
  if (widest > NOISY_SPREAD) {
    lines.push("", `WARNING: runs disagree by up to ±${(50 * widest).toFixed(0)}% on req/s: something else probably ran on these cores; re-run before trusting the ratios.`);
  }

  lines.push("", "Floors (reported, not asserted)");
  const floors = checkFloors(comparisons, { variants: variantComparisons, extras: input.extras ?? null });
  lines.push(...alignColumns(floors.map((floor) => [floor.pass ? "PASS" : "FAIL", floor.name, floor.measured, floor.limit])));
  return lines;
}
