import { describe, expect, it } from "bun:test";
import { createLifecycle } from "../../server/lifecycle.ts";
import { createLogger } from "../../server/log.ts";
import { drainServer, type StoppableServer } from "../../server/shutdown.ts";

/** A server whose graceful stop resolves when the test says its connections have closed. */
function fakeServer(pendingRequests: number) {
  const calls: boolean[] = [];
  let closeAll: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    closeAll = resolve;
  });
  const server: StoppableServer = {
    pendingRequests,
    stop(force = false) {
      calls.push(force);
      return force ? Promise.resolve() : closed;
    },
  };
  return { server, calls, closeAll };
}

const logger = createLogger({ write: () => {} });

describe("drainServer", () => {
  it("starts draining at once and returns when the connections close within the deadline", async () => {
    const { server, calls, closeAll } = fakeServer(3);
    const lifecycle = createLifecycle();
    const drained = drainServer({ server, lifecycle, drainMs: 5000, closeGraceMs: 5000, logger });
    expect(lifecycle.draining).toBe(true);
    expect(lifecycle.stopSignal.aborted).toBe(false);
    closeAll();
    expect(await drained).toEqual({ drained: true, openAtDeadline: 0 });
    expect(calls).toEqual([false]);
  });

  it("stops open streams at the deadline, then waits for them to close", async () => {
    const { server, calls, closeAll } = fakeServer(2);
    const lifecycle = createLifecycle();
    lifecycle.stopSignal.addEventListener("abort", () => closeAll());
    expect(await drainServer({ server, lifecycle, drainMs: 10, closeGraceMs: 5000, logger })).toEqual({ drained: false, openAtDeadline: 2 });
    expect(lifecycle.stopSignal.aborted).toBe(true);
    expect(calls).toEqual([false]);
  });

  it("closes every connection when they are still open after the grace period", async () => {
    const { server, calls } = fakeServer(1);
    const lifecycle = createLifecycle();
    expect(await drainServer({ server, lifecycle, drainMs: 10, closeGraceMs: 10, logger })).toEqual({ drained: false, openAtDeadline: 1 });
    expect(calls).toEqual([false, true]);
  });
});
