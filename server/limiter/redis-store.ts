// The Redis LimiterStore: one Lua script call per batch of check-and-reserves, bounded waits, and a connection that reports its state.
import { Redis, type Result } from "ioredis";
import { createBatcher } from "./batcher.ts";
import { ADJUST_LUA, RESERVE_LUA } from "./redis-scripts.ts";
import type { AdjustCommand, InstanceUsage, LimiterStore, ReserveCommand, ReserveReply, SubjectSpec } from "./store.ts";
import { MINUTE_WINDOW, isLimited, type Limits, type WindowParams, type WindowUsage } from "./window.ts";

// defineCommand adds these at run time (EVALSHA, then EVAL on NOSCRIPT); this tells the compiler.
declare module "ioredis" {
  interface RedisCommander<Context> {
    limiterReserve(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Result<unknown, Context>;
    limiterAdjust(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Result<unknown, Context>;
  }
}

export type RedisStoreOptions = {
  url: string;
  /** Prepended to every key (ioredis keyPrefix), so several deployments can share one Redis. */
  keyPrefix: string;
  /** A command that gets no answer within this fails; the caller falls back. */
  commandTimeoutMs: number;
  reconnectMaxDelayMs: number;
  connectTimeoutMs?: number;
  window?: WindowParams;
  /** Called whenever the connection becomes usable or stops being so. */
  onConnectionChange?: (up: boolean, reason: string) => void;
};

const FIRST_RECONNECT_DELAY_MS = 50;
/** Reservations per script call: enough to carry a busy replica's queue, few enough that one call stays short. */
const MAX_RESERVE_BATCH = 32;
/** A reservation queued behind a batch that has not come back this long goes out in a batch of its own. */
const MAX_RESERVE_WAIT_MS = 1;
/**
 * Two script calls may be out at once: with one, a reservation made just after a batch left waited for that batch
 * to come back before its own went, and the bench's proxy core sat about 5% idle (see README, Performance).
 */
const MAX_RESERVES_IN_FLIGHT = 2;

export class RedisStore implements LimiterStore {
  readonly kind = "redis";
  private readonly redis: Redis;
  private readonly params: WindowParams;
  private readonly reserves = createBatcher<ReserveCommand, string>((commands) => this.reserveBatch(commands), {
    maxBatch: MAX_RESERVE_BATCH,
    maxWaitMs: MAX_RESERVE_WAIT_MS,
    gatherWithinTurn: true,
    maxInFlight: MAX_RESERVES_IN_FLIGHT,
  });

  constructor(options: RedisStoreOptions) {
    this.params = options.window ?? MINUTE_WINDOW;
    this.redis = new Redis(options.url, {
      keyPrefix: options.keyPrefix,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs ?? Math.max(1000, options.commandTimeoutMs),
      // Fail at once while disconnected instead of queueing behind a reconnect: the request path never waits on it.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(FIRST_RECONNECT_DELAY_MS * 2 ** Math.min(attempt, 16), options.reconnectMaxDelayMs),
      scripts: {
        limiterReserve: { lua: RESERVE_LUA },
        limiterAdjust: { lua: ADJUST_LUA },
      },
    });
    const notify = options.onConnectionChange ?? (() => {});
    this.redis.on("ready", () => notify(true, "connected"));
    // Without an error listener ioredis prints every failed reconnect; the limiter reports state itself.
    this.redis.on("error", (error: Error) => notify(false, describeRedisError(error)));
    this.redis.on("close", () => notify(false, "connection closed"));
  }

  /** True when a command can be sent now (not while connecting or reconnecting). */
  isConnected(): boolean {
    return this.redis.status === "ready";
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  /** Reservations made while a script call is out share the next call: one round trip each way for all of them. */
  async reserve(command: ReserveCommand): Promise<ReserveReply> {
    return parseReserveReply(await this.reserves.submit(command), command);
  }

  private async reserveBatch(commands: readonly ReserveCommand[]): Promise<string[]> {
    const { keys, packed } = packReserveBatch(commands);
    const reply = await this.redis.limiterReserve(keys.length, ...keys, this.params.windowMs, this.params.bucketMs, packed);
    if (typeof reply !== "string") throw new Error(`unexpected limiter script reply: ${JSON.stringify(reply)}`);
    return reply.split(";");
  }

  async adjust(command: AdjustCommand): Promise<void> {
    if (command.keys.length === 0) return;
    await this.redis.limiterAdjust(
      command.keys.length,
      ...command.keys,
      this.params.windowMs,
      this.params.bucketMs,
      command.bucket,
      command.delta.tokens,
      command.delta.requests,
    );
  }

  async clear(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.redis.del(...keys);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

/**
 * RESERVE_LUA's arguments for a batch: each key once, and every number in one comma-joined string (see the script).
 * A key's place in KEYS is 1-based, as Lua counts.
 */
export function packReserveBatch(commands: readonly ReserveCommand[]): { keys: string[]; packed: string } {
  const keys: string[] = [];
  const places = new Map<string, number>();
  const placeOf = (key: string): number => {
    let place = places.get(key);
    if (place === undefined) {
      place = keys.push(key);
      places.set(key, place);
    }
    return place;
  };
  let packed = "";
  for (const command of commands) {
    if (packed !== "") packed += ",";
    const client = isLimitedClient(command.client) ? command.client : null;
    packed += `${command.instances.length},${Math.max(0, Math.ceil(command.tokens))},${client ? placeOf(client.key) : 0},`;
    packed += client ? limitsOf(client.limits) : "0,0";
    for (const instance of command.instances) packed += `,${placeOf(instance.key)},${limitsOf(instance.limits)}`;
  }
  return { keys, packed };
}

function limitsOf(limits: Limits): string {
  return `${limits.tokenLimit ?? 0},${limits.requestLimit ?? 0}`;
}

/** Reads one reservation's part of RESERVE_LUA's reply (integers, comma-joined); anything else is a bug worth failing loudly on. */
export function parseReserveReply(reply: unknown, command: ReserveCommand): ReserveReply {
  // The script joins its integers with commas (one bulk string decodes faster than an array of integers).
  const parts = typeof reply === "string" ? reply.split(",") : [];
  const numbers: number[] = new Array<number>(parts.length);
  for (let index = 0; index < parts.length; index++) numbers[index] = Number(parts[index]);
  if (numbers.length < 9 || !numbers.every(Number.isFinite)) throw new Error(`unexpected limiter script reply: ${JSON.stringify(reply)}`);
  const at = (index: number): number => numbers[index] ?? 0;
  const usageAt = (offset: number): WindowUsage => ({ tokens: at(offset), requests: at(offset + 1), last: at(offset + 2) });
  const instances: InstanceUsage[] = [];
  for (let offset = 9; offset + 3 < numbers.length; offset += 4) {
    instances.push({ ...usageAt(offset), retryAfterMs: at(offset + 3) < 0 ? Infinity : at(offset + 3) });
  }
  const client = isLimitedClient(command.client) ? usageAt(6) : null;
  const nowMs = at(2);
  if (at(0) === 1) return { ok: true, chosen: at(1) - 1, bucket: at(3), nowMs, client, instances };
  const retryAfterMs = at(4) < 0 ? Infinity : at(4);
  return { ok: false, blockedBy: at(5) === 1 ? "client" : "instance", retryAfterMs, nowMs, client, instances };
}

// Same rule as reserveAcross: a client without limits is not counted at all.
function isLimitedClient(client: SubjectSpec | null): client is SubjectSpec {
  return client !== null && isLimited(client.limits);
}

function describeRedisError(error: Error): string {
  const code = "code" in error && typeof error.code === "string" ? error.code : undefined;
  return code ? `${code}: ${error.message}` : error.message;
}
