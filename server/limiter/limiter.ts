// The limiter the request path calls: reserve before a call (one store round trip), reconcile or refund after (off the path).
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { createTokenEstimator, type EstimateInput, type TokenEstimate } from "./estimate.ts";
import { toRateLimitHeaders, type HeaderDimension, type RateLimitHeaders } from "./headers.ts";
import { MemoryStore } from "./memory-store.ts";
import { connectSharedStore } from "./shared-store.ts";
import type { AdjustCommand, LimiterStore, ReserveCommand, ReserveReply } from "./store.ts";
import {
  checkCouldEverFit,
  clientSpec,
  instanceSpec,
  type LimitedClient,
  type LimitedInstance,
} from "./subjects.ts";
import { createUsageSnapshots, type Headroom } from "./usage-snapshots.ts";
import { MINUTE_WINDOW, isLimited, type WindowParams, type WindowUsage } from "./window.ts";

// The request path needs only this module: the pure pieces it calls directly come with it.
export { checkCouldEverFit, type FitCheck, type LimitedClient, type LimitedInstance } from "./subjects.ts";
export type { EstimateInput, TokenEstimate } from "./estimate.ts";
export type { Headroom } from "./usage-snapshots.ts";
export type { RateLimitHeaders } from "./headers.ts";

export type LimiterOptions = {
  config: { readonly redis: Config["redis"]; readonly limits: Pick<Config["limits"], "default_max_tokens"> };
  logger: Logger;
  now?: () => number;
  /** Tests shorten the window; production limits are per minute. */
  window?: WindowParams;
  /** How often a Redis marked down is asked whether it is back. */
  probeIntervalMs?: number;
  warnIntervalMs?: number;
};

export type ReserveInput = {
  /** Candidates in order of preference; the first with room (together with the client) is charged. */
  instances: readonly LimitedInstance[];
  client: LimitedClient | null;
  /** Estimated prompt + completion tokens. */
  tokens: number;
};

/** What reconcile and refund need; plain data, safe to keep until the request settles. */
type ReservationFields = {
  instance: string;
  client: string | null;
  tokens: number;
  bucket: number;
  keys: readonly string[];
  /** Where it was counted: adjustments go to the same place, even if Redis came back or went away since. */
  store: "redis" | "local" | "none";
};

/**
 * What one request holds on the windows until it is reconciled or refunded, which happens once. The flag lives on
 * the reservation itself: a WeakSet of settled ones cost the garbage collector more than the limiter's own work.
 */
export class Reservation {
  readonly instance: string;
  readonly client: string | null;
  readonly tokens: number;
  readonly bucket: number;
  readonly keys: readonly string[];
  readonly store: ReservationFields["store"];
  #settled = false;

  constructor(fields: ReservationFields) {
    this.instance = fields.instance;
    this.client = fields.client;
    this.tokens = fields.tokens;
    this.bucket = fields.bucket;
    this.keys = fields.keys;
    this.store = fields.store;
  }

  /** True the first time only: the caller settles it, and any later call is a no-op. */
  takeSettlement(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    return true;
  }
}

export type ReserveOutcome =
  | { ok: true; /** index into `instances` */ chosen: number; reservation: Reservation; headers: RateLimitHeaders }
  | {
      ok: false;
      /** rate_limited: 429 with retry-after; too_large: 400 (checkCouldEverFit says why); unavailable: on_failure closed. */
      reason: "rate_limited" | "too_large" | "unavailable";
      scope: "instance" | "client";
      retryAfterMs: number;
      headers: RateLimitHeaders;
    };

export type LimiterStatus = {
  /** memory: no Redis configured; redis: shared; local / open / closed: Redis unreachable, on_failure in force. */
  mode: "memory" | "redis" | "local" | "open" | "closed";
  degraded: boolean;
  reason: string | null;
};

export type Limiter = {
  /** Answers at once (no promise) unless Redis must be asked: nothing limits the request, or it is counted in process. */
  reserve(input: ReserveInput): ReserveOutcome | Promise<ReserveOutcome>;
  /** Replaces the reservation's tokens with what the call really used. Returns at once; idempotent. */
  reconcile(reservation: Reservation, actualTokens: number): void;
  /** Takes the reservation back entirely (tokens and the request). Returns at once; idempotent. */
  refund(reservation: Reservation): void;
  /**
   * Synchronous and advisory, from the last replies seen: not ok when a recent reply showed too little room for
   * `tokens`, with `until` = when it should have room (Infinity: `tokens` exceed its max_tpm). reserve decides.
   */
  headroom(instance: LimitedInstance, tokens: number): Headroom;
  /** Share of the instance's limits in use by the last reply seen, 0..1 (0 when unknown or unlimited). */
  utilisation(instance: LimitedInstance): number;
  /** Prompt + completion tokens for `request`; exact BPE only when a limit in `scope` could be near. */
  estimate(request: EstimateInput, scope: Pick<ReserveInput, "instances" | "client">): TokenEstimate | Promise<TokenEstimate>;
  /** Tokens and requests counted for the instance in the window by the last reply seen (0 when none recent). */
  usage(instance: LimitedInstance): { tokens: number; requests: number };
  /** Clears the instance's window in the store it is counted in (and in the local fallback). */
  resetInstance(instance: LimitedInstance): Promise<void>;
  status(): LimiterStatus;
  close(): Promise<void>;
};

const CLOSED_RETRY_AFTER_MS = 1000;
/** How long reconciliations for Redis are gathered before they are sent (off the request path either way). */
export const ADJUST_BATCH_MS = 25;

export function createLimiter(options: LimiterOptions): Limiter {
  const { redis } = options.config;
  const now = options.now ?? Date.now;
  const params = options.window ?? MINUTE_WINDOW;
  const local = new MemoryStore({ now, window: params });
  const shared =
    redis.url === ""
      ? null
      : connectSharedStore({
          redis,
          logger: options.logger,
          now,
          window: params,
          probeIntervalMs: options.probeIntervalMs ?? 500,
          warnIntervalMs: options.warnIntervalMs ?? 10_000,
        });
  const snapshots = createUsageSnapshots({ now, trustMs: params.bucketMs, windowMs: params.windowMs });
  const estimator = createTokenEstimator({ defaultMaxTokens: options.config.limits.default_max_tokens });

  const storeFor = (name: Reservation["store"]): LimiterStore | null => {
    if (name === "local") return local;
    return name === "redis" && shared?.isUp() ? shared.store : null;
  };

  // Adjustments for Redis are summed per (keys, bucket) and sent together every ADJUST_BATCH_MS: under load one
  // command stands for hundreds of requests, where one each would cost the proxy as much CPU as the reserve itself.
  const pendingAdjusts = new Map<string, AdjustCommand>();
  let adjustTimer: Timer | null = null;
  const flushAdjusts = () => {
    if (adjustTimer) clearTimeout(adjustTimer);
    adjustTimer = null;
    const commands = [...pendingAdjusts.values()];
    pendingAdjusts.clear();
    // Like a single one: sent only while Redis is usable, and a lost one leaves the window a little high until it slides.
    if (!shared?.isUp()) return;
    for (const command of commands) {
      if (command.delta.tokens === 0 && command.delta.requests === 0) continue;
      shared.store.adjust(command).catch((error: unknown) => shared.noteFailure(error));
    }
  };

  const adjust = (reservation: Reservation, command: AdjustCommand) => {
    for (const key of command.keys) snapshots.forget(key);
    const store = storeFor(reservation.store);
    if (!store || command.keys.length === 0) return;
    if (store === local) {
      // In process and cheap: at once, so the next reserve already sees it.
      local.adjust(command).catch(() => {});
      return;
    }
    const id = `${command.bucket}\u0000${command.keys.join("\u0000")}`;
    const pending = pendingAdjusts.get(id);
    if (pending) {
      pending.delta.tokens += command.delta.tokens;
      pending.delta.requests += command.delta.requests;
    } else {
      pendingAdjusts.set(id, { keys: command.keys, bucket: command.bucket, delta: { ...command.delta } });
    }
    if (!adjustTimer) {
      adjustTimer = setTimeout(flushAdjusts, ADJUST_BATCH_MS);
      adjustTimer.unref();
    }
  };

  const countLocally = (input: ReserveInput, first: LimitedInstance, command: ReserveCommand): ReserveOutcome =>
    decide(input, first, command, local.reserveNow(command), "local");

  /** Redis is not usable (down, or this call failed): on_failure decides, without waiting for it. */
  const withoutRedis = (input: ReserveInput, first: LimitedInstance, command: ReserveCommand): ReserveOutcome => {
    if (redis.on_failure === "local") return countLocally(input, first, command);
    if (redis.on_failure === "open") {
      return { ok: true, chosen: 0, reservation: freeReservation(first, input.client, command.tokens, now(), params), headers: {} };
    }
    return { ok: false, reason: "unavailable", scope: "instance", retryAfterMs: CLOSED_RETRY_AFTER_MS, headers: {} };
  };

  /**
   * A refusal the store gave moments ago (within one bucket) still holds, unless our own refund freed room: answer it
   * here, so a caller that ignores Retry-After costs the store nothing (a refusal is the script's dearest path).
   */
  const rememberedRefusal = (input: ReserveInput, command: ReserveCommand): ReserveOutcome | null => {
    const clientRetryAt = command.client ? snapshots.refusedUntil(command.client.key, command.tokens) : null;
    let instanceRetryAt: number | null = Infinity;
    for (const spec of command.instances) {
      const retryAt = isLimited(spec.limits) ? snapshots.refusedUntil(spec.key, command.tokens) : null;
      if (retryAt === null) {
        instanceRetryAt = null;
        break;
      }
      instanceRetryAt = Math.min(instanceRetryAt, retryAt);
    }
    if (clientRetryAt === null && instanceRetryAt === null) return null;
    const nowMs = now();
    const [firstSpec] = command.instances;
    const headers = headersFor(
      input.client,
      input.instances[0],
      command.client ? snapshots.usage(command.client.key) : null,
      firstSpec ? (snapshots.usage(firstSpec.key) ?? undefined) : undefined,
      nowMs,
      params,
    );
    const retryAt = Math.max(clientRetryAt ?? 0, instanceRetryAt ?? 0);
    const scope = clientRetryAt !== null ? "client" : "instance";
    return { ok: false, reason: "rate_limited", scope, retryAfterMs: Math.max(0, Math.ceil(retryAt - nowMs)), headers };
  };

  /**
   * A request some limit applies to: checked and reserved in the store. Counted in process, it is answered at once;
   * only a Redis reservation makes a promise (the batcher's, and one step after it).
   */
  const reserveLimited = (input: ReserveInput, first: LimitedInstance, command: ReserveCommand): ReserveOutcome | Promise<ReserveOutcome> => {
    const fit = checkCouldEverFit({ tokens: command.tokens, instances: input.instances, client: input.client });
    if (!fit.ok) return { ok: false, reason: "too_large", scope: fit.scope, retryAfterMs: 0, headers: {} };

    const remembered = rememberedRefusal(input, command);
    if (remembered) return remembered;

    if (!shared) return countLocally(input, first, command);
    if (!shared.isUp()) return withoutRedis(input, first, command);
    return shared.store.reserve(command).then(
      (reply) => decide(input, first, command, reply, "redis"),
      (error: unknown) => {
        shared.noteFailure(error);
        return withoutRedis(input, first, command);
      },
    );
  };

  /** The outcome of a store's reply: usage snapshots recorded, and the reservation and headers on success. */
  const decide = (input: ReserveInput, first: LimitedInstance, command: ReserveCommand, reply: ReserveReply, store: "redis" | "local"): ReserveOutcome => {
    const { tokens } = command;
    if (command.client && reply.client) {
      const refusedHere = !reply.ok && reply.blockedBy === "client";
      snapshots.record(command.client.key, reply.client, refusedHere ? { tokens, retryAfterMs: reply.retryAfterMs } : undefined);
    }
    reply.instances.forEach((usage, index) => {
      const spec = command.instances[index];
      if (spec && isLimited(spec.limits)) snapshots.record(spec.key, usage, { tokens, retryAfterMs: usage.retryAfterMs });
    });

    if (!reply.ok) {
      const headers = headersFor(input.client, first, reply.client, reply.instances[0], reply.nowMs, params);
      if (reply.retryAfterMs === Infinity) return { ok: false, reason: "too_large", scope: reply.blockedBy, retryAfterMs: 0, headers };
      return { ok: false, reason: "rate_limited", scope: reply.blockedBy, retryAfterMs: Math.ceil(reply.retryAfterMs), headers };
    }
    const chosen = input.instances[reply.chosen];
    const chosenSpec = command.instances[reply.chosen];
    if (!chosen || !chosenSpec) throw new Error(`limiter store chose instance ${reply.chosen} of ${input.instances.length}`);
    const keys = [command.client?.key, isLimited(chosenSpec.limits) ? chosenSpec.key : undefined].filter(
      (key): key is string => key !== undefined,
    );
    const reservation = new Reservation({
      instance: chosen.name,
      client: input.client?.name ?? null,
      tokens,
      bucket: reply.bucket,
      keys,
      store,
    });
    const headers = headersFor(input.client, chosen, reply.client, reply.instances[reply.chosen], reply.nowMs, params);
    return { ok: true, chosen: reply.chosen, reservation, headers };
  };

  return {
    reserve(input) {
      const [first] = input.instances;
      if (!first) throw new Error("reserve needs at least one candidate instance");
      const tokens = Math.max(0, Math.ceil(input.tokens));
      const client = clientSpec(input.client);
      if (!client && !isLimited(instanceSpec(first).limits)) {
        return { ok: true, chosen: 0, reservation: freeReservation(first, input.client, tokens, now(), params), headers: {} };
      }
      return reserveLimited(input, first, { client, instances: input.instances.map(instanceSpec), tokens });
    },
    reconcile(reservation, actualTokens) {
      if (!reservation.takeSettlement()) return;
      const delta = Math.max(0, Math.ceil(actualTokens)) - reservation.tokens;
      if (delta !== 0) adjust(reservation, { keys: reservation.keys, bucket: reservation.bucket, delta: { tokens: delta, requests: 0 } });
    },

    refund(reservation) {
      if (!reservation.takeSettlement()) return;
      adjust(reservation, { keys: reservation.keys, bucket: reservation.bucket, delta: { tokens: -reservation.tokens, requests: -1 } });
    },

    headroom(instance, tokens) {
      const { key, limits } = instanceSpec(instance);
      return isLimited(limits) ? snapshots.headroom(key, limits, Math.ceil(tokens)) : { ok: true };
    },

    utilisation(instance) {
      const { key, limits } = instanceSpec(instance);
      return isLimited(limits) ? snapshots.utilisation(key, limits) : 0;
    },

    estimate(request, scope) {
      const client = clientSpec(scope.client);
      const clientRoom = client ? snapshots.tokensLeft(client.key, client.limits) : Infinity;
      let instanceRoom = scope.instances.length === 0 ? Infinity : 0;
      for (const instance of scope.instances) {
        const { key, limits } = instanceSpec(instance);
        instanceRoom = Math.max(instanceRoom, snapshots.tokensLeft(key, limits));
      }
      return estimator.estimate(request, Math.min(clientRoom, instanceRoom));
    },

    usage(instance) {
      return snapshots.recentUsage(instanceSpec(instance).key) ?? { tokens: 0, requests: 0 };
    },

    async resetInstance(instance) {
      const key = instanceSpec(instance).key;
      snapshots.drop(key);
      await local.clear([key]);
      if (!shared) return;
      if (!shared.isUp()) throw new Error(`Redis is unavailable (${shared.reason() ?? "down"})`);
      await shared.store.clear([key]);
    },

    status() {
      if (!shared) return { mode: "memory", degraded: false, reason: null };
      if (shared.isUp()) return { mode: "redis", degraded: false, reason: null };
      return { mode: redis.on_failure, degraded: true, reason: shared.reason() };
    },

    async close() {
      flushAdjusts();
      await shared?.close();
      await local.close();
    },
  };
}

/** Nothing limits this call (or the limiter is open): a reservation with nothing to adjust. */
function freeReservation(
  instance: LimitedInstance,
  client: LimitedClient | null,
  tokens: number,
  nowMs: number,
  params: WindowParams,
): Reservation {
  return new Reservation({
    instance: instance.name,
    client: client?.name ?? null,
    tokens,
    bucket: Math.floor(nowMs / params.bucketMs),
    keys: [],
    store: "none",
  });
}

function headersFor(
  client: LimitedClient | null,
  instance: LimitedInstance | undefined,
  clientUsage: WindowUsage | null,
  instanceUsage: WindowUsage | undefined,
  nowMs: number,
  params: WindowParams,
): RateLimitHeaders {
  const pick = (clientLimit: number | undefined, instanceLimit: number | undefined): HeaderDimension => {
    if (clientLimit !== undefined && clientUsage) return { limit: clientLimit, usage: clientUsage };
    if (instanceLimit !== undefined && instanceUsage) return { limit: instanceLimit, usage: instanceUsage };
    return null;
  };
  return toRateLimitHeaders(
    { requests: pick(client?.rpm, instance?.max_rpm), tokens: pick(client?.tpm, instance?.max_tpm) },
    nowMs,
    params,
  );
}
