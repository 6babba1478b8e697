// Shares cooldowns and circuit state between replicas through Redis: publish on change, adopt what others publish.
import { Redis } from "ioredis";
import type { Logger } from "../log.ts";
import type { HealthRegistry } from "./registry.ts";
import { mergeSharedHealth, parseSharedHealth, toSharedHealth, type SharedHealth } from "./shared-state.ts";
import type { HealthEvent, InstanceHealth } from "./state.ts";

export type HealthSyncOptions = {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  reconnectMaxDelayMs: number;
  instances: readonly string[];
  logger: Logger;
  now: () => number;
};

export type HealthSync = {
  /** Wire to the registry's onChange: tells the other replicas about cooldowns and circuit changes. */
  publish(instance: string, state: InstanceHealth, event: HealthEvent): void;
  attach(registry: HealthRegistry): void;
  close(): Promise<void>;
};

/** Only these change what other replicas should do; successes and single failures stay local. */
function isWorthSharing(previousCircuit: string | undefined, state: InstanceHealth, event: HealthEvent): boolean {
  return event.type === "throttled" || event.type === "reset" || previousCircuit !== (state.circuit === "closed" ? "closed" : "open");
}

export function startHealthSync(options: HealthSyncOptions): HealthSync {
  const replica = crypto.randomUUID();
  const channel = `${options.keyPrefix}health`;
  // The hash tag keeps every instance's key in one cluster slot, so the MGET at (re)connect is one command.
  const keyOf = (instance: string) => `${options.keyPrefix}{health}:${instance}`;
  const connection = {
    commandTimeout: options.commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, options.reconnectMaxDelayMs),
    lazyConnect: false,
  };
  const publisher = new Redis(options.url, connection);
  // A subscribed connection can do nothing else; it queues its SUBSCRIBE until connected.
  const subscriber = new Redis(options.url, { ...connection, enableOfflineQueue: true, commandTimeout: undefined });
  for (const client of [publisher, subscriber]) client.on("error", () => {});
  const lastCircuit = new Map<string, string>();
  let registry: HealthRegistry | undefined;

  const adopt = (shared: SharedHealth | null) => {
    if (!shared || shared.replica === replica || !registry) return;
    const local = registry.get(shared.instance);
    const merged = mergeSharedHealth(local, shared, options.now());
    if (merged !== local) {
      lastCircuit.set(shared.instance, merged.circuit === "closed" ? "closed" : "open");
      registry.adopt(shared.instance, merged);
    }
  };

  subscriber.on("message", (_channel: string, message: string) => adopt(parseSharedHealth(message)));
  // Catch up on what was published while this replica was away or not yet started; whichever connection
  // becomes ready last triggers it (the publisher sends nothing before it is connected).
  const catchUp = () => {
    if (options.instances.length === 0 || publisher.status !== "ready" || subscriber.status !== "ready") return;
    publisher
      .mget(options.instances.map(keyOf))
      .then((values) => values.forEach((value) => value && adopt(parseSharedHealth(value))))
      .catch(() => {});
  };
  publisher.on("ready", catchUp);
  subscriber.on("ready", catchUp);
  void subscriber.subscribe(channel).catch(() => {});

  return {
    publish(instance, state, event) {
      if (!isWorthSharing(lastCircuit.get(instance), state, event)) return;
      lastCircuit.set(instance, state.circuit === "closed" ? "closed" : "open");
      const shared = toSharedHealth(replica, instance, state, options.now());
      const message = JSON.stringify(shared);
      const ttlMs = Math.max(shared.cooldownRemainingMs, shared.circuitRemainingMs, 1000);
      // Fire and forget: the request that saw the 429 does not wait on Redis; a failure only delays sharing.
      publisher
        .multi()
        .set(keyOf(instance), message, "PX", ttlMs)
        .publish(channel, message)
        .exec()
        .catch((error: unknown) => options.logger.debug("health sync: publish failed", { error }));
    },
    attach(target) {
      registry = target;
    },
    async close() {
      subscriber.disconnect();
      publisher.disconnect();
    },
  };
}
