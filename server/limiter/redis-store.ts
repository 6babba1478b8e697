// The Redis LimiterStore: one Lua script call per batch of check-and-reserves, bounded waits, and a connection that reports its state.
import { Redis, type Result } from "ioredis";
import { createBatcher } from "./batcher.ts";
import { ADJUST_LUA, RESERVE_LUA } from "./redis-scripts.ts";
import type { AdjustCommand, InstanceUsage, LimiterStore, ReserveCommand, ReserveReply, SubjectSpec } from "./store.ts";
import { MINUTE_WINDOW, isLimited, type Limits, type WindowParams } from "./window.ts";

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
  private readonly reserves = createBatcher<ReserveCommand, ReserveReply>((commands) => this.reserveBatch(commands), {
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
  reserve(command: ReserveCommand): Promise<ReserveReply> {
    return this.reserves.submit(command);
  }

  private async reserveBatch(commands: readonly ReserveCommand[]): Promise<ReserveReply[]> {
    const { keys, packed } = packReserveBatch(commands);
    const reply = await this.redis.limiterReserve(keys.length, ...keys, this.params.windowMs, this.params.bucketMs, packed);
    return parseReserveReplies(reply, commands);
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

const COMMA = 44;
const SEMICOLON = 59;
const MINUS = 45;
const ZERO = 48;
const NINE = 57;

/**
 * RESERVE_LUA's reply for a batch: per reservation, integers joined with ',', reservations joined with ';'. Read in
 * one pass over the characters (no split, no Number per part). Anything else is a bug worth failing loudly on.
 */
export function parseReserveReplies(reply: unknown, commands: readonly ReserveCommand[]): ReserveReply[] {
  if (typeof reply !== "string") throw unexpectedReply(reply);
  const replies: ReserveReply[] = [];
  const numbers: number[] = [];
  let value = 0;
  let digits = 0;
  let negative = false;
  for (let index = 0; index <= reply.length; index++) {
    const code = index < reply.length ? reply.charCodeAt(index) : SEMICOLON;
    if (code >= ZERO && code <= NINE) {
      value = value * 10 + (code - ZERO);
      digits++;
    } else if (code === MINUS && digits === 0 && !negative) {
      negative = true;
    } else if ((code === COMMA || code === SEMICOLON) && digits > 0) {
      numbers.push(negative ? -value : value);
      value = 0;
      digits = 0;
      negative = false;
      if (code === SEMICOLON) {
        const command = commands[replies.length];
        if (command === undefined || numbers.length < 9 || (numbers.length - 9) % 4 !== 0) throw unexpectedReply(reply);
        replies.push(toReserveReply(numbers, command));
        numbers.length = 0;
      }
    } else {
      throw unexpectedReply(reply);
    }
  }
  if (replies.length !== commands.length) throw unexpectedReply(reply);
  return replies;
}

/** One reservation's integers: ok, chosen, now_ms, bucket, retry_after_ms, blocked_by, client usage, then 4 per instance. */
function toReserveReply(numbers: readonly number[], command: ReserveCommand): ReserveReply {
  const at = (index: number): number => numbers[index] ?? 0;
  const instances: InstanceUsage[] = [];
  for (let offset = 9; offset + 3 < numbers.length; offset += 4) {
    const retryAfterMs = at(offset + 3);
    instances.push({ tokens: at(offset), requests: at(offset + 1), last: at(offset + 2), retryAfterMs: retryAfterMs < 0 ? Infinity : retryAfterMs });
  }
  const client = isLimitedClient(command.client) ? { tokens: at(6), requests: at(7), last: at(8) } : null;
  const nowMs = at(2);
  if (at(0) === 1) return { ok: true, chosen: at(1) - 1, bucket: at(3), nowMs, client, instances };
  const retryAfterMs = at(4) < 0 ? Infinity : at(4);
  return { ok: false, blockedBy: at(5) === 1 ? "client" : "instance", retryAfterMs, nowMs, client, instances };
}

function unexpectedReply(reply: unknown): Error {
  return new Error(`unexpected limiter script reply: ${JSON.stringify(reply)}`);
}

// Same rule as reserveAcross: a client without limits is not counted at all.
function isLimitedClient(client: SubjectSpec | null): client is SubjectSpec {
  return client !== null && isLimited(client.limits);
}

function describeRedisError(error: Error): string {
  const code = "code" in error && typeof error.code === "string" ? error.code : undefined;
  return code ? `${code}: ${error.message}` : error.message;
}
