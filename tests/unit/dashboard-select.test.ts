import { describe, expect, it } from "bun:test";
import type { InstanceMetrics, InstanceView, MetricsSample } from "../../dashboard/src/contract.ts";
import { reconnectDelayMs, RECONNECT_MAX_MS } from "../../dashboard/src/lib/backoff.ts";
import { formatCount, formatCountdown, formatMs, formatSecondsAgo } from "../../dashboard/src/lib/format.ts";
import { chartedNames, cooldownSecondsLeft, errorsInLastMinute, latestMetrics, recentLatency, seriesOf, shareOf } from "../../dashboard/src/select.ts";

function metrics(overrides: Partial<InstanceMetrics> = {}): InstanceMetrics {
  return { requests_per_s: 1, tokens_per_s: 10, latency_p50_ms: null, latency_p95_ms: null, errors: 0, error_rate: 0, utilisation: 0, in_flight: 0, ...overrides };
}

const samples: MetricsSample[] = [
  { at: 0, instances: { east: metrics({ errors: 5, latency_p50_ms: 10, latency_p95_ms: 30 }) } },
  { at: 30_000, instances: { east: metrics({ errors: 2 }), west: metrics({ errors: 1 }) } },
  { at: 61_000, instances: { east: metrics({ errors: 1, latency_p50_ms: 12, latency_p95_ms: 50, in_flight: 3 }) } },
  { at: 62_000, instances: { east: metrics({ errors: 0 }) } },
];

describe("derived figures", () => {
  it("counts errors in the minute before the newest sample", () => {
    expect(errorsInLastMinute(samples, "east")).toBe(3);
    expect(errorsInLastMinute(samples, "west")).toBe(1);
    expect(errorsInLastMinute([], "east")).toBe(0);
  });

  it("shows the latency of the latest second that had requests", () => {
    expect(recentLatency(samples, "east")).toEqual({ p50: 12, p95: 50 });
    expect(recentLatency(samples, "west")).toEqual({ p50: null, p95: null });
    expect(recentLatency(samples, "east", 1)).toEqual({ p50: null, p95: null });
  });

  it("reads the latest sample and lays series out in seconds before it", () => {
    expect(latestMetrics(samples, "east")?.errors).toBe(0);
    expect(latestMetrics(samples, "west")).toBeUndefined();
    expect(seriesOf(samples, "west", (m) => m.errors)).toEqual([
      { x: -62, y: null },
      { x: -32, y: 1 },
      { x: -1, y: null },
      { x: 0, y: null },
    ]);
  });

  it("keeps a chart line for an instance that left the fleet while its samples remain", () => {
    const fleet = [{ name: "west" }, { name: "north" }] as InstanceView[];
    expect(chartedNames(fleet, samples)).toEqual(["west", "north", "east"]);
  });

  it("counts a cooldown down in whole seconds and stops at zero", () => {
    const cooling = { state: { cooldown_until: 10_000 } } as InstanceView;
    expect(cooldownSecondsLeft(cooling, 1_500)).toBe(9);
    expect(cooldownSecondsLeft(cooling, 10_000)).toBe(0);
    expect(cooldownSecondsLeft({ state: { cooldown_until: null } } as InstanceView, 0)).toBe(0);
  });

  it("gives a share of a limit, or none without a limit", () => {
    expect(shareOf(250, 1000)).toBe(0.25);
    expect(shareOf(2000, 1000)).toBe(1);
    expect(shareOf(5, null)).toBeNull();
    expect(shareOf(5, 0)).toBeNull();
  });
});

describe("reconnect backoff", () => {
  it("doubles from one second, caps at thirty, and jitters within half a step", () => {
    expect(reconnectDelayMs(0, () => 1)).toBe(1000);
    expect(reconnectDelayMs(0, () => 0)).toBe(500);
    expect(reconnectDelayMs(3, () => 1)).toBe(8000);
    expect(reconnectDelayMs(20, () => 1)).toBe(RECONNECT_MAX_MS);
    expect(reconnectDelayMs(20, () => 0)).toBe(RECONNECT_MAX_MS / 2);
  });
});

describe("formatting", () => {
  it("shortens numbers, durations and axis labels", () => {
    expect([formatCount(null), formatCount(950), formatCount(12_345), formatCount(2_500_000), formatCount(1.25)]).toEqual(["–", "950", "12.3k", "2.5M", "1.3"]);
    expect([formatMs(null), formatMs(42.4), formatMs(1500), formatMs(25_000)]).toEqual(["–", "42 ms", "1.5 s", "25 s"]);
    expect([formatSecondsAgo(0), formatSecondsAgo(-120), formatSecondsAgo(-30)]).toEqual(["now", "-2m", "-30s"]);
    expect([formatCountdown(9), formatCountdown(75)]).toEqual(["9 s", "1m 15s"]);
  });
});
