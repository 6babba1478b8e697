// Shares runtime overrides between replicas through Redis: a hash holds them, a channel says which instance changed.
import { Redis } from "ioredis";
import type { RedisConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { readStoredPatch, type TunablesPatch } from "./tunables.ts";

export type OverrideSync = {
  /** After a local change: store it in the shared hash and tell the other replicas. */
  publish(instance: string, patch: TunablesPatch | undefined): void;
  close(): Promise<void>;
};

export type OverrideSyncOptions = {
  redis: RedisConfig;
  logger: Logger;
  /** What this replica has (from SQLite) when Redis holds nothing yet: it seeds the shared hash. */
  local: () => ReadonlyMap<string, TunablesPatch>;
  /** The shared set, read at (re)connect: it replaces the local one. */
  adoptAll: (overrides: Map<string, TunablesPatch>) => void;
  /** Another replica changed one instance's override (undefined: dropped). */
  adopt: (instance: string, patch: TunablesPatch | undefined) => void;
};

export function startOverrideSync(options: OverrideSyncOptions): OverrideSync {
  const { redis, logger } = options;
  const replica = crypto.randomUUID();
  const hashKey = `${redis.key_prefix}{overrides}`;
  const channel = `${redis.key_prefix}overrides`;
  const connection = {
    commandTimeout: redis.command_timeout_ms * 10,
    // Commands made while reconnecting wait for it, but give up after one retry so a dead Redis is logged, not awaited.
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, redis.reconnect_max_delay_ms),
  };
  const client = new Redis(redis.url, connection);
  const subscriber = new Redis(redis.url, { ...connection, commandTimeout: undefined });
  for (const connectionOf of [client, subscriber]) connectionOf.on("error", () => {});

  const catchUp = async () => {
    if (client.status !== "ready" || subscriber.status !== "ready") return;
    try {
      const shared = await client.hgetall(hashKey);
      const names = Object.keys(shared);
      if (names.length === 0) {
        const local = options.local();
        if (local.size > 0) await client.hset(hashKey, Object.fromEntries([...local].map(([name, patch]) => [name, JSON.stringify(patch)])));
        return;
      }
      const overrides = new Map<string, TunablesPatch>();
      for (const name of names) {
        const patch = readStoredPatch(shared[name] ?? "");
        if (patch && Object.keys(patch).length > 0) overrides.set(name, patch);
      }
      options.adoptAll(overrides);
    } catch (error) {
      logger.warn("runtime overrides: could not read the shared set from Redis", { error });
    }
  };
  client.on("ready", () => void catchUp());
  subscriber.on("ready", () => void catchUp());
  subscriber.on("message", (_channel: string, message: string) => {
    const parsed = parseMessage(message);
    if (!parsed || parsed.replica === replica) return;
    client
      .hget(hashKey, parsed.instance)
      .then((text) => {
        const patch = text === null ? undefined : (readStoredPatch(text) ?? undefined);
        options.adopt(parsed.instance, patch && Object.keys(patch).length > 0 ? patch : undefined);
      })
      .catch((error: unknown) => logger.warn("runtime overrides: could not read a change from Redis", { error }));
  });
  void subscriber.subscribe(channel).catch(() => {});

  return {
    publish(instance, patch) {
      const message = JSON.stringify({ replica, instance });
      const write = patch === undefined ? client.multi().hdel(hashKey, instance) : client.multi().hset(hashKey, instance, JSON.stringify(patch));
      write
        .publish(channel, message)
        .exec()
        .catch((error: unknown) => logger.warn("runtime overrides: could not share a change through Redis", { instance, error }));
    },
    async close() {
      subscriber.disconnect();
      client.disconnect();
    },
  };
}

function parseMessage(text: string): { replica: string; instance: string } | null {
  try {
    const value = JSON.parse(text) as { replica?: unknown; instance?: unknown };
    return typeof value.replica === "string" && typeof value.instance === "string" ? { replica: value.replica, instance: value.instance } : null;
  } catch {
    return null;
  }
}
