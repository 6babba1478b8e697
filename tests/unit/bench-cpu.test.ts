import { describe, expect, test } from "bun:test";
import { parseCpuSeconds, readCpuSeconds } from "../bench/children.ts";

describe("the bench's per-process CPU reading", () => {
  test("adds utime and stime, counting fields after the last parenthesis of the command name", () => {
    // Fields 14 and 15 (utime, stime) are 250 and 75 ticks; the name holds a space and a ")".
    const line = "4242 (bun (x) y) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 75 0 0 20 0 9 0 12345 0 0";
    expect(parseCpuSeconds(line)).toBe(3.25);
  });

  test("is null for a line that is not a stat line", () => {
    expect(parseCpuSeconds("")).toBeNull();
    expect(parseCpuSeconds("1 (bun) S 1 2")).toBeNull();
  });

  test("reads this process and grows as it works", () => {
    const before = readCpuSeconds(process.pid);
    expect(before).not.toBeNull();
    const until = performance.now() + 60;
    while (performance.now() < until);
    expect(readCpuSeconds(process.pid)!).toBeGreaterThan(before!);
  });

  test("is null for a process that does not exist", () => {
    expect(readCpuSeconds(2 ** 22 + 7)).toBeNull();
  });
});
