// The simulator's sliding-window counter, driven with explicit timestamps.
import { describe, expect, it } from "bun:test";
import { createTokenWindow } from "../../server/simulator/token-window.ts";

describe("sliding token window", () => {
  it("counts tokens spent within the window and forgets them once it slides past", () => {
    const window = createTokenWindow(60_000);
    window.add(1_000, 100);
    window.add(30_000, 50);
    expect(window.usedAt(30_000)).toBe(150);
    expect(window.usedAt(60_999)).toBe(150);
    expect(window.usedAt(61_000)).toBe(50);
    expect(window.usedAt(90_000)).toBe(0);
  });

  it("admits at once while the need fits under the limit", () => {
    const window = createTokenWindow(60_000);
    window.add(0, 600);
    expect(window.retryAfterMs(10_000, 400, 1000)).toBe(0);
  });

  it("waits until the oldest spend that frees enough room leaves the window", () => {
    const window = createTokenWindow(60_000);
    window.add(0, 300);
    window.add(20_000, 300);
    window.add(40_000, 300);
    // 900 used, limit 1000: 500 more needs 400 freed, i.e. the first two entries (600) gone.
    expect(window.retryAfterMs(50_000, 500, 1000)).toBe(30_000);
    expect(window.retryAfterMs(50_000, 200, 1000)).toBe(10_000);
    expect(window.retryAfterMs(80_000, 500, 1000)).toBe(0);
  });

  it("lets a request larger than the whole limit into an empty window, and only then", () => {
    const window = createTokenWindow(60_000);
    expect(window.retryAfterMs(0, 5000, 1000)).toBe(0);
    window.add(0, 5000);
    expect(window.retryAfterMs(1_000, 5000, 1000)).toBe(59_000);
  });

  it("stays exact across many entries and compactions", () => {
    const window = createTokenWindow(1_000);
    for (let t = 0; t < 10_000; t++) window.add(t, 1);
    expect(window.usedAt(9_999)).toBe(1_000);
    expect(window.retryAfterMs(9_999, 1, 1_000)).toBe(1);
  });
});
