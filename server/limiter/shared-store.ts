// The Redis store with its health: connection events and failed calls mark it down, a background PING brings it back.
import type { RedisConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { RedisStore } from "./redis-store.ts";
import { initialStoreHealth, markStoreDown, markStoreUp, type HealthChange, type StoreHealth } from "./store-health.ts";
import type { WindowParams } from "./window.ts";

export type SharedStore = {
  readonly store: RedisStore;
  /** Requests use Redis only while this holds; otherwise the on_failure mode answers without waiting. */
  isUp(): boolean;
  reason(): string | null;
  /** A call failed or timed out: stop sending requests until a probe succeeds. */
  noteFailure(error: unknown): void;
  close(): Promise<void>;
};

export type SharedStoreOptions = {
  redis: RedisConfig;
  logger: Logger;
  now: () => number;
  window: WindowParams;
  probeIntervalMs: number;
  warnIntervalMs: number;
};

export function connectSharedStore(options: SharedStoreOptions): SharedStore {
  const { redis, logger, now } = options;
  let health: StoreHealth = initialStoreHealth("connecting to Redis");
  let closed = false;

  const apply = (change: HealthChange) => {
    health = change.health;
    if (change.warn) {
      logger.warn("rate limiter: Redis unavailable", { reason: health.reason, fallback: redis.on_failure });
    }
    if (change.recovered) logger.info("rate limiter: Redis is back, limits are shared again");
  };
  const markDown = (reason: string) => {
    if (!closed) apply(markStoreDown(health, reason, now(), options.warnIntervalMs));
  };
  const markUp = () => {
    if (!closed) apply(markStoreUp(health));
  };

  const store = new RedisStore({
    url: redis.url,
    keyPrefix: redis.key_prefix,
    commandTimeoutMs: redis.command_timeout_ms,
    reconnectMaxDelayMs: redis.reconnect_max_delay_ms,
    window: options.window,
    onConnectionChange: (up, reason) => (up ? markUp() : markDown(reason)),
  });

  // A paused or black-holed Redis keeps its connection open, so no "ready" event will announce its return: ask.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const probe = async () => {
    if (!health.up && store.isConnected()) {
      try {
        await store.ping();
        markUp();
      } catch (error) {
        markDown(describeError(error));
      }
    }
    if (!closed) schedule();
  };
  const schedule = () => {
    timer = setTimeout(() => void probe(), options.probeIntervalMs);
    timer.unref();
  };
  schedule();

  return {
    store,
    isUp: () => health.up,
    reason: () => health.reason,
    noteFailure: (error) => markDown(describeError(error)),
    async close() {
      closed = true;
      clearTimeout(timer);
      await store.close();
    },
  };
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
