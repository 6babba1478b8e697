import { describe, expect, test } from "bun:test";
import { checkFloors, FLOOR_STATS_RATIO, type Comparison, type VariantComparison } from "../bench/report.ts";

const chat: Comparison = {
  scenario: "chat",
  proxyOverPassThrough: 0.69996,
  proxyOverDirect: 0.4,
  passThroughOverDirect: 0.6,
  addedP50AtC1Ms: 0.05,
  addedCoreUsPerRequest: 30,
  addedProcessCpuUsPerRequest: 30,
  ttfbDiffMs: null,
  lastByteDiffMs: null,
};

function statsVariant(onOverOff: number): VariantComparison {
  return { variant: "stats-off", requestsPerSec: 1, baselineRequestsPerSec: 1, onOverOff, addedP50AtC1Ms: 0, addedCpuUsPerRequest: 0 };
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
