// `bun tests/bench/limiter.ts` (and `bun run bench`, which imports measureLimiterStores): raw check-and-reserve rate against a private redis-server, the in-process store, and the estimator's CPU cost.
import { createTokenEstimator, type EstimateInput } from "../../server/limiter/estimate.ts";
import { createLimiter } from "../../server/limiter/limiter.ts";
import { MemoryStore } from "../../server/limiter/memory-store.ts";
import { RedisStore } from "../../server/limiter/redis-store.ts";
import type { LimiterStore, ReserveCommand } from "../../server/limiter/store.ts";
import { createLogger } from "../../server/log.ts";
import { countChatPromptTokens } from "../../server/tokens/count.ts";
import { startRedisServer } from "../_support/redis-server.ts";

const SECONDS = Number(process.env.LIMITER_BENCH_SECONDS ?? 2);
const IN_FLIGHT = Number(process.env.LIMITER_BENCH_IN_FLIGHT ?? 64);

// Limits high enough that every call is admitted: the common case on the request path.
const COMMAND: ReserveCommand = {
  client: { key: "{limiter}:client:bench", limits: { tokenLimit: 1e12, requestLimit: 1e12 } },
  instances: [{ key: "{limiter}:instance:bench", limits: { tokenLimit: 1e12, requestLimit: 1e12 } }],
  tokens: 300,
};

/** Keeps `inFlight` reserves outstanding for `seconds`; returns calls per second, latency percentiles, and this process's CPU per call. */
async function measureStore(store: LimiterStore, inFlight: number, seconds: number) {
  const latencies: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const started = performance.now();
    await store.reserve(COMMAND);
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  let done = 0;
  const cpuBefore = process.cpuUsage();
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < until) {
        await store.reserve(COMMAND);
        done++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  return {
    opsPerSecond: Math.round(done / seconds),
    callerCpuMicrosPerOp: round((cpu.user + cpu.system) / done),
    p50Ms: round(latencies[Math.floor(latencies.length * 0.5)] ?? 0),
    p99Ms: round(latencies[Math.floor(latencies.length * 0.99)] ?? 0),
  };
}

/** CPU per estimate of a 1 KB chat body, in µs: fresh text each time, repeated text, and the no-limit-near bound. */
async function measureEstimate() {
  const filler = "The proxy reserves prompt tokens plus max_tokens before each call, then reconciles. ";
  const bodyFor = (i: number) => {
    const body = {
      model: "gpt-4o",
      messages: [
        { role: "system", content: "You are a helpful assistant." },
        { role: "user", content: `${i} ${filler.repeat(12)}`.slice(0, 900) },
      ],
      max_tokens: 200,
    };
    const text = JSON.stringify(body);
    return { text, bytes: Buffer.byteLength(text) };
  };
  const fresh = Array.from({ length: 20_000 }, (_, i) => bodyFor(i));
  const same = bodyFor(-1);
  const estimator = createTokenEstimator({ defaultMaxTokens: 1024, cacheChars: 4_000_000 });
  const input = (body: { text: string; bytes: number }): EstimateInput => ({
    operation: "chat/completions",
    model: "gpt-4o",
    body: JSON.parse(body.text) as Record<string, unknown>,
    bodyBytes: body.bytes,
  });
  await estimator.estimate(input(same), 0);
  const time = async (label: string, run: (i: number) => unknown, count: number) => {
    for (let i = 0; i < 500; i++) await run(i);
    const started = performance.now();
    for (let i = 0; i < count; i++) await run(i);
    return [label, round(((performance.now() - started) * 1000) / count)] as const;
  };
  // JSON.parse is in every row (the proxy has parsed the body already): the parse row is the floor to subtract.
  return Object.fromEntries([
    await time("jsonParseOnly", (i) => Promise.resolve(input(fresh[i % fresh.length]!)), 20_000),
    await time("countChatPromptTokens", (i) => countChatPromptTokens(input(fresh[i % fresh.length]!).body.messages, "gpt-4o"), 10_000),
    await time("exactUncached", (i) => estimator.estimate(input(fresh[(i + 5000) % fresh.length]!), 0), 10_000),
    await time("exactCached", () => estimator.estimate(input(same), 0), 20_000),
    await time("farFromLimits", (i) => estimator.estimate(input(fresh[i % fresh.length]!), Infinity), 20_000),
  ]);
}

/** CPU of one facade reserve + reconcile in embedded mode: what the request path pays without Redis. */
async function measureFacade() {
  const limiter = createLimiter({
    config: { redis: { url: "", key_prefix: "", on_failure: "local", command_timeout_ms: 150, reconnect_max_delay_ms: 2000 }, limits: { default_max_tokens: 1024 } },
    logger: createLogger({ write: () => {} }),
  });
  const input = { instances: [{ name: "east", max_tpm: 1e12, max_rpm: 1e12 }], client: { name: "team-a", tpm: 1e12, rpm: 1e12 }, tokens: 300 };
  const count = 200_000;
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const outcome = await limiter.reserve(input);
    if (outcome.ok) limiter.reconcile(outcome.reservation, 250);
  }
  await limiter.close();
  return { reserveAndReconcileMicros: round(((performance.now() - started) * 1000) / count) };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Raw check-and-reserve against a Redis at `url` (64 in flight, then one at a time) and against the in-process store. */
export async function measureLimiterStores(url: string, seconds: number) {
  const redisStore = new RedisStore({ url, keyPrefix: "bench:", commandTimeoutMs: 1000, reconnectMaxDelayMs: 500 });
  try {
    while (!redisStore.isConnected()) await Bun.sleep(5);
    return {
      redis: { inFlight: IN_FLIGHT, ...(await measureStore(redisStore, IN_FLIGHT, seconds)) },
      redisSequential: { inFlight: 1, ...(await measureStore(redisStore, 1, seconds)) },
      memory: { inFlight: IN_FLIGHT, ...(await measureStore(new MemoryStore(), IN_FLIGHT, seconds)) },
    };
  } finally {
    await redisStore.close();
  }
}

if (import.meta.main) {
  await using redis = await startRedisServer();
  const results = {
    ...(await measureLimiterStores(redis.url, SECONDS)),
    embeddedFacade: await measureFacade(),
    estimateMicrosPer1KbChat: await measureEstimate(),
  };
  console.log(JSON.stringify(results, null, 2));
}
