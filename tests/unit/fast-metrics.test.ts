import { describe, expect, it } from "bun:test";
import { Counter, Histogram, Registry } from "prom-client";
import { createCounter, createHistogram } from "../../server/stats/fast-metrics.ts";

const BUCKETS = [0.005, 0.05, 0.5, 5];

describe("fast metrics", () => {
  it("expose exactly what prom-client's Counter and Histogram expose for the same observations", async () => {
    const reference = new Registry();
    const ours = new Registry();
    const refCounter = new Counter({ name: "c_total", help: "h", labelNames: ["a", "b"], registers: [reference] });
    const refHistogram = new Histogram({ name: "h_seconds", help: "h", labelNames: ["a"], buckets: BUCKETS, registers: [reference] });
    const counter = createCounter({ name: "c_total", help: "h", labelNames: ["a", "b"], registry: ours });
    const histogram = createHistogram({ name: "h_seconds", help: "h", labelNames: ["a"], buckets: BUCKETS, registry: ours });
    const x = counter.child({ a: "x", b: "1" });
    const y = counter.child({ a: "y", b: "2" });
    counter.child({ a: "never", b: "used" });
    const hx = histogram.child({ a: "x" });
    for (const [child, labels, value] of [[x, { a: "x", b: "1" }, 1], [x, { a: "x", b: "1" }, 3], [y, { a: "y", b: "2" }, 0]] as const) {
      child.inc(value);
      refCounter.inc(labels, value);
    }
    for (const value of [0.001, 0.005, 0.3, 7, 0.05]) {
      hx.observe(value);
      refHistogram.observe({ a: "x" }, value);
    }
    expect(await ours.metrics()).toBe(await reference.metrics());
  });

  it("forget every series on reset, also through children kept from before", async () => {
    const registry = new Registry();
    const counter = createCounter({ name: "c_total", help: "h", labelNames: ["a"], registry });
    const child = counter.child({ a: "x" });
    child.inc(5);
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('c_total{a="x"}');
    child.inc();
    expect(await registry.metrics()).toContain('c_total{a="x"} 1');
  });
});
