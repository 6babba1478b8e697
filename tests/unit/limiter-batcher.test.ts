import { describe, expect, it } from "bun:test";
import { createBatcher } from "../../server/limiter/batcher.ts";

/** A sender whose batches the test answers by hand, in any order. */
function manualSender() {
  const batches: { items: readonly number[]; answer: (results: readonly string[]) => void; fail: (error: Error) => void }[] = [];
  const send = (items: readonly number[]) =>
    new Promise<readonly string[]>((resolve, reject) => {
      batches.push({ items, answer: resolve, fail: reject });
    });
  const echo = (index: number) => {
    const batch = batches[index]!;
    batch.answer(batch.items.map((item) => `r${item}`));
  };
  return { batches, send, echo };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("batcher", () => {
  it("sends a lone call at once, in a batch of its own", async () => {
    const sender = manualSender();
    const batcher = createBatcher(sender.send, { maxBatch: 8, maxWaitMs: 1000 });
    const result = batcher.submit(1);
    expect(sender.batches.map((batch) => batch.items)).toEqual([[1]]);
    sender.echo(0);
    expect(await result).toBe("r1");
  });

  it("with gatherWithinTurn, sends the calls of one event-loop turn as one batch at the turn's end", async () => {
    const sender = manualSender();
    const batcher = createBatcher(sender.send, { maxBatch: 8, maxWaitMs: 1000, gatherWithinTurn: true });
    const results = [1, 2, 3].map((item) => batcher.submit(item));
    // Nothing goes out while the turn that made the calls is still running.
    expect(sender.batches).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sender.batches.map((batch) => batch.items)).toEqual([[1, 2, 3]]);
    sender.echo(0);
    expect(await Promise.all(results)).toEqual(["r1", "r2", "r3"]);
    // A full batch still goes at once, without waiting for the turn to end.
    const full = Array.from({ length: 8 }, (_, index) => batcher.submit(10 + index));
    expect(sender.batches.map((batch) => batch.items.length)).toEqual([3, 8]);
    sender.echo(1);
    expect((await Promise.all(full)).length).toBe(8);
  });

  it("gathers the calls made while a batch is out into the next one, and answers each with its own result", async () => {
    const sender = manualSender();
    const batcher = createBatcher(sender.send, { maxBatch: 8, maxWaitMs: 1000 });
    const results = [1, 2, 3, 4].map((item) => batcher.submit(item));
    expect(sender.batches.map((batch) => batch.items)).toEqual([[1]]);
    expect(batcher.queued()).toBe(3);
    sender.echo(0);
    await settle();
    expect(sender.batches.map((batch) => batch.items)).toEqual([[1], [2, 3, 4]]);
    sender.echo(1);
    expect(await Promise.all(results)).toEqual(["r1", "r2", "r3", "r4"]);
    expect(batcher.queued()).toBe(0);
  });

  it("with maxInFlight 2, sends a second batch while the first is out, and gathers behind both", async () => {
    const sender = manualSender();
    const batcher = createBatcher(sender.send, { maxBatch: 8, maxWaitMs: 1000, gatherWithinTurn: true, maxInFlight: 2 });
    const first = [1, 2].map((item) => batcher.submit(item));
    await new Promise((resolve) => setImmediate(resolve));
    const second = [3, 4].map((item) => batcher.submit(item));
    await new Promise((resolve) => setImmediate(resolve));
    expect(sender.batches.map((batch) => batch.items)).toEqual([[1, 2], [3, 4]]);
    const third = [5, 6].map((item) => batcher.submit(item));
    await new Promise((resolve) => setImmediate(resolve));
    // Two are out: the third waits for one of them to come back.
    expect(sender.batches).toHaveLength(2);
    expect(batcher.queued()).toBe(2);
    sender.echo(1);
    await settle();
    expect(sender.batches.map((batch) => batch.items)).toEqual([[1, 2], [3, 4], [5, 6]]);
    sender.echo(0);
    sender.echo(2);
    expect(await Promise.all([...first, ...second, ...third])).toEqual(["r1", "r2", "r3", "r4", "r5", "r6"]);
  });

  it("never puts more than maxBatch calls in one batch", async () => {
    const sender = manualSender();
    const batcher = createBatcher(sender.send, { maxBatch: 2, maxWaitMs: 1000 });
    const results = [1, 2, 3, 4, 5, 6].map((item) => batcher.submit(item));
    // The queue reaching maxBatch sends it without waiting for the batch in flight.
    expect(sender.batches.map((batch) => batch.items)).toEqual([[1], [2, 3], [4, 5]]);
    for (const index of [0, 1, 2]) sender.echo(index);
    await settle();
    expect(sender.batches.map((batch) => batch.items)).toEqual([[1], [2, 3], [4, 5], [6]]);
    sender.echo(3);
    expect(await Promise.all(results)).toEqual(["r1", "r2", "r3", "r4", "r5", "r6"]);
  });

  it("sends what waits behind a stalled batch after maxWaitMs instead of holding it for the stall", async () => {
    const sender = manualSender();
    const batcher = createBatcher(sender.send, { maxBatch: 8, maxWaitMs: 5 });
    void batcher.submit(1);
    const second = batcher.submit(2);
    expect(sender.batches).toHaveLength(1);
    await Bun.sleep(30);
    expect(sender.batches.map((batch) => batch.items)).toEqual([[1], [2]]);
    sender.echo(1);
    expect(await second).toBe("r2");
  });

  it("fails every call of a failed batch with its error, and only those", async () => {
    const sender = manualSender();
    const batcher = createBatcher(sender.send, { maxBatch: 8, maxWaitMs: 1000 });
    const first = batcher.submit(1);
    const queued = [batcher.submit(2), batcher.submit(3)];
    sender.batches[0]!.fail(new Error("Command timed out"));
    await expect(first).rejects.toThrow("Command timed out");
    await settle();
    expect(sender.batches.map((batch) => batch.items)).toEqual([[1], [2, 3]]);
    sender.echo(1);
    expect(await Promise.all(queued)).toEqual(["r2", "r3"]);
  });

  it("fails every call when a batch comes back with the wrong number of results", async () => {
    const sender = manualSender();
    const batcher = createBatcher(sender.send, { maxBatch: 8, maxWaitMs: 1000 });
    const results = [batcher.submit(1), batcher.submit(2), batcher.submit(3)];
    sender.echo(0);
    await settle();
    sender.batches[1]!.answer(["only one"]);
    expect(await results[0]).toBe("r1");
    await expect(results[1]).rejects.toThrow("a batch of 2 came back with 1 results");
    await expect(results[2]).rejects.toThrow("a batch of 2 came back with 1 results");
  });

  it("fails the calls of a batch whose send throws instead of returning a promise, and keeps working", async () => {
    let calls = 0;
    const batcher = createBatcher(
      (items: readonly number[]) => {
        calls++;
        if (calls === 1) throw new Error("connection is closed");
        return Promise.resolve(items.map((item) => `r${item}`));
      },
      { maxBatch: 8, maxWaitMs: 1000 },
    );
    await expect(batcher.submit(1)).rejects.toThrow("connection is closed");
    await settle();
    expect(await batcher.submit(2)).toBe("r2");
  });
});
