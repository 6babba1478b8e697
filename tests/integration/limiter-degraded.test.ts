// The limiter against a private redis-server that dies, freezes (SIGSTOP), or is not there yet.
import { describe, expect, it } from "bun:test";
import { createLimiter, type Limiter, type ReserveInput } from "../../server/limiter/limiter.ts";
import { createLogger } from "../../server/log.ts";
import { buildConfig } from "../_support/proxy.ts";
import { findFreePort, startRedisServer } from "../_support/redis-server.ts";
import { until } from "../_support/until.ts";

const COMMAND_TIMEOUT_MS = 150;
const REQUEST: ReserveInput = { instances: [{ name: "east", max_tpm: 10_000_000 }], client: { name: "team-a", rpm: 1_000_000 }, tokens: 10 };

type Harness = AsyncDisposable & { limiter: Limiter; logs: { level: string; msg: string }[] };

function connect(url: string, onFailure: "local" | "open" | "closed" = "local"): Harness {
  const logs: { level: string; msg: string }[] = [];
  const limiter = createLimiter({
    config: buildConfig({
      redis: { url, on_failure: onFailure, command_timeout_ms: COMMAND_TIMEOUT_MS, reconnect_max_delay_ms: 100 },
    }),
    logger: createLogger({ write: (line) => logs.push(JSON.parse(line) as { level: string; msg: string }) }),
    probeIntervalMs: 50,
  });
  return { limiter, logs, [Symbol.asyncDispose]: () => limiter.close() };
}

/** Keeps `workers` reserve loops going until stopped; records every call's duration and any error. */
function driveTraffic(limiter: Limiter, workers = 8) {
  const durations: number[] = [];
  const errors: unknown[] = [];
  const stores = new Set<string>();
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const started = performance.now();
      try {
        const outcome = await limiter.reserve(REQUEST);
        if (!outcome.ok) errors.push(outcome);
        else stores.add(outcome.reservation.store);
      } catch (error) {
        errors.push(error);
      }
      durations.push(performance.now() - started);
      // Yield to timers and sockets between calls, as real requests would.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  });
  return {
    durations,
    errors,
    stores,
    count: () => durations.length,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe("limiter with Redis failing", () => {
  it("keeps answering when Redis is killed mid-traffic, reports degraded, and returns to Redis when it is back", async () => {
    await using redis = await startRedisServer();
    await using harness = connect(redis.url);
    const { limiter, logs } = harness;
    await until(() => limiter.status().mode === "redis");
    const traffic = driveTraffic(limiter);
    await until(() => traffic.count() > 50);
    await redis.kill();
    await until(() => limiter.status().degraded);
    const atKill = traffic.count();
    await until(() => traffic.count() > atKill + 100);
    expect(limiter.status()).toMatchObject({ mode: "local", degraded: true, reason: expect.any(String) });
    await redis.restart();
    await until(() => limiter.status().mode === "redis", { timeoutMs: 5000 });
    const atRecovery = traffic.count();
    await until(() => traffic.count() > atRecovery + 50);
    await traffic.stop();

    expect(traffic.errors).toEqual([]);
    expect(Math.max(...traffic.durations)).toBeLessThan(250);
    expect([...traffic.stores].sort()).toEqual(["local", "redis"]);
    expect(logs.filter((line) => line.level === "warn").map((line) => line.msg)).toEqual(["rate limiter: Redis unavailable"]);
    expect(logs.some((line) => line.msg === "rate limiter: Redis is back, limits are shared again")).toBe(true);
    expect(limiter.status()).toEqual({ mode: "redis", degraded: false, reason: null });
  });

  it("waits at most the command timeout on a frozen Redis (SIGSTOP), then stops waiting until it answers again", async () => {
    await using redis = await startRedisServer();
    await using harness = connect(redis.url);
    const { limiter } = harness;
    await until(() => limiter.status().mode === "redis");
    const traffic = driveTraffic(limiter);
    await until(() => traffic.count() > 50);
    redis.pause();
    await until(() => limiter.status().degraded);
    const atPause = traffic.count();
    await until(() => traffic.count() > atPause + 100);
    expect(limiter.status()).toEqual({ mode: "local", degraded: true, reason: "Command timed out" });
    redis.resume();
    await until(() => limiter.status().mode === "redis", { timeoutMs: 5000 });
    const atResume = traffic.count();
    await until(() => traffic.count() > atResume + 50);
    await traffic.stop();

    expect(traffic.errors).toEqual([]);
    const slow = traffic.durations.filter((ms) => ms > 50);
    expect(Math.max(...traffic.durations)).toBeLessThan(COMMAND_TIMEOUT_MS + 100);
    // Only the calls already waiting on Redis when it froze paid the timeout.
    expect(slow.length).toBeLessThanOrEqual(16);
  });

  it("starts with Redis down, counts locally, and picks Redis up once it appears", async () => {
    const port = findFreePort();
    await using harness = connect(`redis://127.0.0.1:${port}`);
    const { limiter } = harness;
    const started = performance.now();
    const first = limiter.reserve(REQUEST);
    // Counted locally while Redis is down: answered at once, with no promise to wait on.
    expect(first).not.toBeInstanceOf(Promise);
    expect(performance.now() - started).toBeLessThan(50);
    expect(first).toMatchObject({ ok: true, reservation: { store: "local" } });
    expect(limiter.status()).toMatchObject({ mode: "local", degraded: true });
    await using redis = await startRedisServer({ port });
    await until(() => limiter.status().mode === "redis", { timeoutMs: 5000 });
    const shared = limiter.reserve(REQUEST);
    expect(shared).toBeInstanceOf(Promise);
    expect(await shared).toMatchObject({ ok: true, reservation: { store: "redis" } });
    expect(await redis.cli(["EXISTS", "aoai-proxy:{limiter}:client:team-a"])).toBe("1");
  });

  it("admits everything with on_failure open, and refuses with on_failure closed, while Redis is unreachable", async () => {
    const url = `redis://127.0.0.1:${findFreePort()}`;
    await using open = connect(url, "open");
    await using closed = connect(url, "closed");
    expect(await open.limiter.reserve(REQUEST)).toMatchObject({ ok: true, reservation: { store: "none", keys: [] } });
    expect(open.limiter.status()).toMatchObject({ mode: "open", degraded: true });
    expect(await closed.limiter.reserve(REQUEST)).toEqual({
      ok: false,
      reason: "unavailable",
      scope: "instance",
      retryAfterMs: 1000,
      headers: {},
    });
    expect(closed.limiter.status()).toMatchObject({ mode: "closed", degraded: true });
  });

  it("reconciles a reservation after Redis restarted empty, without errors or negative counts", async () => {
    await using redis = await startRedisServer();
    await using harness = connect(redis.url);
    const { limiter } = harness;
    await until(() => limiter.status().mode === "redis");
    const client = { name: "solo", tpm: 1000 };
    const outcome = await limiter.reserve({ instances: [{ name: "east" }], client, tokens: 500 });
    if (!outcome.ok) throw new Error("expected a reservation");
    await redis.restart();
    await until(() => limiter.status().mode === "redis", { timeoutMs: 5000 });
    limiter.refund(outcome.reservation);
    const after = await limiter.reserve({ instances: [{ name: "east" }], client, tokens: 1000 });
    expect(after).toMatchObject({ ok: true, headers: { "x-ratelimit-remaining-tokens": "0" } });
  });
});

describe("limiter on Redis", () => {
  it("answers a refusal repeated within a bucket from memory, without another script call", async () => {
    await using redis = await startRedisServer();
    await using harness = connect(redis.url);
    const { limiter } = harness;
    await until(() => limiter.status().mode === "redis");
    const client = { name: "greedy", rpm: 1 };
    const scripts = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await redis.cli(["INFO", "commandstats"]))?.[1] ?? 0);
    expect((await limiter.reserve({ instances: [{ name: "east" }], client, tokens: 1 })).ok).toBe(true);
    const refused = await limiter.reserve({ instances: [{ name: "east" }], client, tokens: 1 });
    const before = await scripts();
    const again = await Promise.all(Array.from({ length: 20 }, () => limiter.reserve({ instances: [{ name: "east" }], client, tokens: 1 })));
    expect(refused).toMatchObject({ ok: false, reason: "rate_limited", scope: "client" });
    expect(again.every((outcome) => !outcome.ok && outcome.scope === "client" && outcome.retryAfterMs > 59_000)).toBe(true);
    expect(await scripts()).toBe(before);
  });

  it("sends the reconciliations of many requests as one adjustment, and the window ends up at their real usage", async () => {
    await using redis = await startRedisServer();
    await using harness = connect(redis.url);
    const { limiter } = harness;
    await until(() => limiter.status().mode === "redis");
    const client = { name: "batched", tpm: 100_000 };
    // Script calls either way: the first use of a script goes as EVAL after EVALSHA's NOSCRIPT.
    const adjustments = async () => {
      const stats = await redis.cli(["INFO", "commandstats"]);
      return [/cmdstat_evalsha:calls=(\d+)/, /cmdstat_eval:calls=(\d+)/].reduce((sum, pattern) => sum + Number(pattern.exec(stats)?.[1] ?? 0), 0);
    };
    const reservations = [];
    for (let i = 0; i < 20; i++) {
      const outcome = await limiter.reserve({ instances: [{ name: "east" }], client, tokens: 1000 });
      if (!outcome.ok) throw new Error("expected a reservation");
      reservations.push(outcome.reservation);
    }
    const before = await adjustments();
    // 20 × 1000 reserved; each used 100, and the last one is refunded entirely.
    for (const reservation of reservations.slice(0, -1)) limiter.reconcile(reservation, 100);
    limiter.refund(reservations.at(-1)!);
    await until(async () => (await adjustments()) > before);
    const check = await limiter.reserve({ instances: [{ name: "east" }], client, tokens: 1 });
    expect(check).toMatchObject({ ok: true, headers: { "x-ratelimit-remaining-tokens": String(100_000 - 19 * 100 - 1) } });
    // One script call for the 20 adjustments (they share keys and bucket), plus the check's own reserve.
    expect((await adjustments()) - before).toBe(2);
  });
});
