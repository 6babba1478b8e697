import { describe, expect, it } from "bun:test";
import { createAttemptWatch, type GiveUpReason } from "../../server/proxy/attempt-watch.ts";

/** A watch on a hand-driven clock and sweep, so every check is explicit. */
function manualWatch(stopSignal?: AbortSignal) {
  let nowMs = 1_000;
  let tick: (() => void) | null = null;
  let started = 0;
  let cancelled = 0;
  const watch = createAttemptWatch({
    now: () => nowMs,
    sweepMs: 50,
    stopSignal,
    schedule: {
      every(_ms, run) {
        started++;
        tick = run;
        return started;
      },
      cancel() {
        cancelled++;
        tick = null;
      },
    },
  });
  return {
    watch,
    advance(ms: number) {
      nowMs += ms;
      tick?.();
    },
    get now() {
      return nowMs;
    },
    get sweeping() {
      return tick !== null;
    },
    timers: () => ({ started, cancelled }),
  };
}

function recorder() {
  const reasons: GiveUpReason[] = [];
  return { reasons, giveUp: (reason: GiveUpReason) => reasons.push(reason) };
}

describe("attempt watch", () => {
  it("gives up a call at the sweep after its deadline, once", () => {
    const clock = manualWatch();
    const { reasons, giveUp } = recorder();
    clock.watch.watch(new AbortController().signal, clock.now + 120, giveUp);
    clock.advance(50);
    clock.advance(50);
    expect(reasons).toEqual([]);
    clock.advance(50);
    expect(reasons).toEqual(["timeout"]);
    clock.advance(50);
    expect(reasons).toEqual(["timeout"]);
    expect(clock.watch.size).toBe(0);
  });

  it("notices a client that left at the next sweep, before the deadline", () => {
    const clock = manualWatch();
    const client = new AbortController();
    const { reasons, giveUp } = recorder();
    clock.watch.watch(client.signal, clock.now + 30_000, giveUp);
    client.abort();
    expect(reasons).toEqual([]);
    clock.advance(50);
    expect(reasons).toEqual(["client_gone"]);
  });

  it("gives up at once when the client is already gone or the proxy is already stopping", () => {
    const gone = new AbortController();
    gone.abort();
    const clock = manualWatch();
    const first = recorder();
    clock.watch.watch(gone.signal, clock.now + 1000, first.giveUp);
    expect(first.reasons).toEqual(["client_gone"]);

    const stop = new AbortController();
    stop.abort();
    const stopping = manualWatch(stop.signal);
    const second = recorder();
    stopping.watch.watch(new AbortController().signal, stopping.now + 1000, second.giveUp);
    expect(second.reasons).toEqual(["stopping"]);
    expect(stopping.watch.size).toBe(0);
  });

  it("stops every watched call when the stop signal aborts, and none it had released", () => {
    const stop = new AbortController();
    const clock = manualWatch(stop.signal);
    const calls = [recorder(), recorder(), recorder()];
    const watched = calls.map((call) => clock.watch.watch(new AbortController().signal, clock.now + 1000, call.giveUp));
    watched[1]!.release();
    stop.abort();
    expect(calls.map((call) => call.reasons)).toEqual([["stopping"], [], ["stopping"]]);
    expect(clock.watch.size).toBe(0);
  });

  it("a released call is never given up, and a moved deadline is the one that counts", () => {
    const clock = manualWatch();
    const released = recorder();
    const moved = recorder();
    clock.watch.watch(new AbortController().signal, clock.now + 50, released.giveUp).release();
    const call = clock.watch.watch(new AbortController().signal, clock.now + 50, moved.giveUp);
    call.setDeadline(clock.now + 500);
    clock.advance(100);
    expect(released.reasons).toEqual([]);
    expect(moved.reasons).toEqual([]);
    clock.advance(400);
    expect(moved.reasons).toEqual(["timeout"]);
  });

  it("runs its sweep only while calls are watched", () => {
    const clock = manualWatch();
    expect(clock.sweeping).toBe(false);
    const call = clock.watch.watch(new AbortController().signal, clock.now + 1000, () => {});
    clock.watch.watch(new AbortController().signal, clock.now + 1000, () => {}).release();
    expect(clock.timers()).toEqual({ started: 1, cancelled: 0 });
    call.release();
    clock.advance(50);
    expect(clock.sweeping).toBe(false);
    expect(clock.timers()).toEqual({ started: 1, cancelled: 1 });
    clock.watch.watch(new AbortController().signal, clock.now + 1000, () => {});
    expect(clock.timers()).toEqual({ started: 2, cancelled: 1 });
  });

  it("unlinks calls from the middle, the head and the tail of its list alike", () => {
    const clock = manualWatch();
    const calls = Array.from({ length: 5 }, () => recorder());
    const watched = calls.map((call, index) => clock.watch.watch(new AbortController().signal, clock.now + 100 * (index + 1), call.giveUp));
    watched[2]!.release();
    watched[4]!.release();
    watched[0]!.release();
    expect(clock.watch.size).toBe(2);
    clock.advance(500);
    expect(calls.map((call) => call.reasons.length)).toEqual([0, 1, 0, 1, 0]);
    expect(clock.watch.size).toBe(0);
  });
});
