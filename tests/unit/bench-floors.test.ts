import { describe, expect, test } from "bun:test";
import { checkFloors, compare, compareVariants, FLOOR_STATS_RATIO, medianGrid, type Cell, type Comparison, type RunResult, type VariantComparison } from "../bench/report.ts";
import { SCENARIOS, TARGETS, type ScenarioName, type TargetName } from "../bench/scenarios.ts";

const chat: Comparison = {
  scenario: "chat",
  proxyOverPassThrough: 0.69996,
  proxyOverPassThroughRuns: null,
  proxyOverPassThroughOfMedians: 0.69996,
  proxyOverDirect: 0.4,
  passThroughOverDirect: 0.6,
  addedP50AtC1Ms: 0.05,
  addedCoreUsPerRequest: 30,
  addedProcessCpuUsPerRequest: 30,
  ttfbDiffMs: null,
  lastByteDiffMs: null,
};

function statsVariant(onOverOff: number): VariantComparison {
  return {
    variant: "stats-off",
    requestsPerSec: 1,
    baselineRequestsPerSec: 1,
    onOverOff,
    onOverOffRuns: null,
    onOverOffOfMedians: onOverOff,
    addedP50AtC1Ms: 0,
    addedCpuUsPerRequest: 0,
  };
}

describe("the bench's floors table", () => {
  test("never prints a ratio just under its floor as the floor itself", () => {
    const floors = checkFloors([chat], { variants: [statsVariant(FLOOR_STATS_RATIO - 0.0004)], extras: null });
    const chatFloor = floors.find((floor) => floor.name.startsWith("chat throughput, proxy"));
    const statsFloor = floors.find((floor) => floor.name.startsWith("chat throughput, stats"));
    expect(chatFloor).toMatchObject({ measured: "0.699×", pass: false });
    expect(statsFloor).toMatchObject({ measured: "0.949×", pass: false });
  });

  test("prints a ratio at its floor as the floor, passing", () => {
    const floors = checkFloors([chat], { variants: [statsVariant(FLOOR_STATS_RATIO)], extras: null });
    expect(floors.find((floor) => floor.name.startsWith("chat throughput, stats"))).toMatchObject({ measured: "0.950×", pass: true });
  });
});

function cellAt(requestsPerSec: number): Cell {
  return {
    load: { requestsPerSec, p50Ms: 1, p99Ms: 2, errors: 0, bytesPerRequest: 100, cpuUsPerRequest: 1e6 / requestsPerSec },
    c1: { p50Ms: 0.3, p99Ms: 0.5, errors: 0 },
    probe: null,
  };
}

/** One run where every pass-through does `pass` req/s and every proxy `proxy`; the variants as given. */
function runAt(pass: number, proxy: number, variants: { limited: number; statsOff: number; baseline: number }): RunResult {
  const cells = {} as Record<ScenarioName, Record<TargetName, Cell>>;
  for (const scenario of SCENARIOS) {
    const row = {} as Record<TargetName, Cell>;
    for (const target of TARGETS) row[target] = cellAt(target === "proxy" ? proxy : target === "pass-through" ? pass : pass * 2);
    cells[scenario] = row;
  }
  const baseline = cellAt(variants.baseline).load;
  return {
    cells,
    infoLog: null,
    variants: {
      "redis-limiter": { ...cellAt(variants.limited), baseline },
      "stats-off": { ...cellAt(variants.statsOff), baseline },
    },
  };
}

describe("the bench's ratios across runs", () => {
  // The machine drifts: run 2 is twice as fast as run 1 for everything, and run 3 in between. Within each run the
  // proxy does 0.72 of the pass-through; the medians of the runs' req/s pair run 3's proxy with run 2's pass-through.
  const runs = [
    runAt(5000, 3600, { limited: 4300, statsOff: 5000, baseline: 5000 }),
    runAt(10000, 7200, { limited: 8600, statsOff: 10000, baseline: 10000 }),
    runAt(6000, 4320, { limited: 5160, statsOff: 6000, baseline: 6000 }),
  ];
  const result = medianGrid(runs);

  test("takes proxy ÷ pass-through within each run, then the median, and keeps the ratio of medians beside it", () => {
    const [chat] = compare(result.cells, runs);
    expect(chat?.proxyOverPassThrough).toBeCloseTo(0.72, 6);
    expect(chat?.proxyOverPassThroughRuns).toEqual({ median: chat!.proxyOverPassThrough, min: 0.72, max: 0.72, runs: 3 });
    // Median proxy 4320 (run 3) ÷ median pass-through 6000 (run 3) happens to pair; make the runs disagree to see it.
    const skewed = [runAt(5000, 3000, { limited: 1, statsOff: 1, baseline: 1 }), runAt(10000, 8000, { limited: 1, statsOff: 1, baseline: 1 }), runAt(6000, 4800, { limited: 1, statsOff: 1, baseline: 1 })];
    const [skewedChat] = compare(medianGrid(skewed).cells, skewed);
    expect(skewedChat?.proxyOverPassThrough).toBeCloseTo(0.8, 6);
    expect(skewedChat?.proxyOverPassThroughOfMedians).toBeCloseTo(4800 / 6000, 6);
    expect(skewedChat?.proxyOverPassThroughRuns).toMatchObject({ min: 0.6, max: 0.8, runs: 3 });
  });

  test("pairs each variant with the baseline measured just before it, inverted for stats-off", () => {
    const comparisons = compareVariants(result, runs);
    const limited = comparisons.find((comparison) => comparison.variant === "redis-limiter");
    const statsOff = comparisons.find((comparison) => comparison.variant === "stats-off");
    expect(limited?.onOverOff).toBeCloseTo(0.86, 6);
    expect(limited?.onOverOffRuns).toMatchObject({ runs: 3 });
    expect(statsOff?.onOverOff).toBeCloseTo(1, 6);
  });

  test("without the runs, or with one, gives the ratio of the medians", () => {
    const [chat] = compare(result.cells);
    expect(chat?.proxyOverPassThroughRuns).toBeNull();
    expect(chat?.proxyOverPassThrough).toBe(chat!.proxyOverPassThroughOfMedians);
    const one = [runs[0]!];
    const [single] = compare(medianGrid(one).cells, one);
    expect(single?.proxyOverPassThrough).toBeCloseTo(0.72, 6);
    expect(single?.proxyOverPassThroughRuns?.runs).toBe(1);
  });

  test("judges the floors on the per-run ratio", () => {
    const skewed = [runAt(5000, 3400, { limited: 4000, statsOff: 5000, baseline: 5000 }), runAt(10000, 7100, { limited: 9000, statsOff: 10000, baseline: 10000 }), runAt(6000, 3800, { limited: 5000, statsOff: 6000, baseline: 6000 })];
    const median = medianGrid(skewed);
    const comparisons = compare(median.cells, skewed);
    // Per run: 0.68, 0.71, 0.633 → 0.68 (FAIL); of medians 3800 ÷ 6000 = 0.633 — both fail here, on different figures.
    const floors = checkFloors(comparisons, { variants: compareVariants(median, skewed), extras: null });
    expect(floors.find((floor) => floor.name.startsWith("chat throughput, proxy"))).toMatchObject({ measured: "0.680×", pass: false });
    expect(floors.find((floor) => floor.name.startsWith("chat throughput, Redis"))).toMatchObject({ measured: "0.833×", pass: false });
  });
});
