// One contract, two stores: the in-process one and the Redis one (against a private redis-server), on real clocks.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { MemoryStore } from "../../server/limiter/memory-store.ts";
import { RedisStore } from "../../server/limiter/redis-store.ts";
import type { LimiterStore, ReserveCommand, SubjectSpec } from "../../server/limiter/store.ts";
import type { WindowParams } from "../../server/limiter/window.ts";
import { startRedisServer, type RedisServer } from "../_support/redis-server.ts";
import { until } from "../_support/until.ts";

// A one-second window keeps sliding observable in a fast test; the math does not care about the scale.
const WINDOW: WindowParams = { windowMs: 1000, bucketMs: 100 };

let redis: RedisServer;
const redisStores: RedisStore[] = [];
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(redisStores.map((store) => store.close()));
  await redis[Symbol.asyncDispose]();
});

async function connectRedisStore(): Promise<RedisStore> {
  const store = new RedisStore({ url: redis.url, keyPrefix: "contract:", commandTimeoutMs: 1000, reconnectMaxDelayMs: 200, window: WINDOW });
  redisStores.push(store);
  await until(() => store.isConnected());
  return store;
}

const stores: [string, () => Promise<LimiterStore>][] = [
  ["memory store", async () => new MemoryStore({ window: WINDOW })],
  ["redis store", connectRedisStore],
];

let keyCounter = 0;
function subject(kind: string, tokenLimit: number | null, requestLimit: number | null = null): SubjectSpec {
  return { key: `{limiter}:${kind}:${++keyCounter}-${crypto.randomUUID()}`, limits: { tokenLimit, requestLimit } };
}

for (const [name, open] of stores) {
  describe(name, () => {
    let store: LimiterStore;
    beforeAll(async () => {
      store = await open();
    });

    it("charges the client and the first instance with room, all or nothing", async () => {
      const client = subject("client", 1000, 2);
      const small = subject("instance", 300);
      const large = subject("instance", 1000);
      const command: ReserveCommand = { client, instances: [small, large], tokens: 200 };
      const first = await store.reserve(command);
      const second = await store.reserve(command);
      const third = await store.reserve(command);
      expect(first).toMatchObject({ ok: true, chosen: 0, client: { tokens: 200, requests: 1 }, instances: [{ tokens: 200, requests: 1 }] });
      expect(second).toMatchObject({
        ok: true,
        chosen: 1,
        client: { tokens: 400, requests: 2 },
        instances: [{ tokens: 200, requests: 1 }, { tokens: 200, requests: 1 }],
      });
      expect(third).toMatchObject({ ok: false, blockedBy: "client", client: { tokens: 400, requests: 2 } });
      // The refused call charged nothing: the small instance still has exactly 100 left.
      const probe = await store.reserve({ client: null, instances: [small], tokens: 101 });
      expect(probe).toMatchObject({ ok: false, blockedBy: "instance", instances: [{ tokens: 200, requests: 1 }] });
    });

    it("clear forgets what was counted for a subject and leaves the others alone", async () => {
      const cleared = subject("instance", 100);
      const kept = subject("instance", 100);
      for (const spec of [cleared, kept]) expect((await store.reserve({ client: null, instances: [spec], tokens: 100 })).ok).toBe(true);
      await store.clear([cleared.key]);
      expect(await store.reserve({ client: null, instances: [cleared], tokens: 100 })).toMatchObject({ ok: true, instances: [{ tokens: 100, requests: 1 }] });
      expect(await store.reserve({ client: null, instances: [kept], tokens: 1 })).toMatchObject({ ok: false, blockedBy: "instance" });
    });

    it("says when enough capacity frees, and admits the request from then on", async () => {
      const instance = subject("instance", 1000);
      const full = await store.reserve({ client: null, instances: [instance], tokens: 1000 });
      expect(full.ok).toBe(true);
      const refused = await store.reserve({ client: null, instances: [instance], tokens: 1 });
      if (refused.ok) throw new Error("expected a refusal");
      expect(refused.retryAfterMs).toBeGreaterThan(WINDOW.windowMs);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(WINDOW.windowMs + WINDOW.bucketMs);
      expect(refused.instances).toEqual([{ tokens: 1000, requests: 1, last: expect.any(Number), retryAfterMs: refused.retryAfterMs }]);
      const refusedAt = performance.now();
      await until(async () => (await store.reserve({ client: null, instances: [instance], tokens: 1000 })).ok, {
        timeoutMs: 3000,
        intervalMs: 20,
      });
      // Clocks of the store and of this process agree to a few milliseconds on one machine.
      expect(performance.now() - refusedAt).toBeGreaterThanOrEqual(refused.retryAfterMs - 25);
    });

    it("with a token limit of 1200 accepts between the limit minus one request and the limit", async () => {
      const instance = subject("instance", 1200);
      const sizes = Array.from({ length: 30 }, (_, i) => 60 + ((i * 53) % 90));
      const results = await Promise.all(sizes.map((tokens) => store.reserve({ client: null, instances: [instance], tokens })));
      const accepted = sizes.reduce((sum, tokens, i) => sum + (results[i]?.ok ? tokens : 0), 0);
      expect(accepted).toBeGreaterThan(1200 - 150);
      expect(accepted).toBeLessThanOrEqual(1200);
    });

    it("reconciles to actual usage and refunds tokens and the request", async () => {
      const client = subject("client", 1000, 3);
      const instance = subject("instance", null, 100);
      const reserved = await store.reserve({ client, instances: [instance], tokens: 900 });
      if (!reserved.ok) throw new Error("expected a reservation");
      await store.adjust({ keys: [client.key, instance.key], bucket: reserved.bucket, delta: { tokens: -850, requests: 0 } });
      const second = await store.reserve({ client, instances: [instance], tokens: 900 });
      if (!second.ok) throw new Error("expected room after reconcile");
      expect(second.client).toMatchObject({ tokens: 950, requests: 2 });
      await store.adjust({ keys: [client.key, instance.key], bucket: second.bucket, delta: { tokens: -900, requests: -1 } });
      const third = await store.reserve({ client, instances: [instance], tokens: 0 });
      expect(third).toMatchObject({ ok: true, client: { tokens: 50, requests: 2 }, instances: [{ tokens: 50, requests: 2 }] });
    });

    it("never lets an adjustment drive counts below zero", async () => {
      const instance = subject("instance", 100);
      const reserved = await store.reserve({ client: null, instances: [instance], tokens: 10 });
      if (!reserved.ok) throw new Error("expected a reservation");
      await store.adjust({ keys: [instance.key], bucket: reserved.bucket, delta: { tokens: -500, requests: -5 } });
      expect(await store.reserve({ client: null, instances: [instance], tokens: 100 })).toMatchObject({
        ok: true,
        instances: [{ tokens: 100, requests: 1 }],
      });
    });

    it("refuses a request larger than every token limit for good", async () => {
      const reply = await store.reserve({ client: null, instances: [subject("instance", 50), subject("instance", 60)], tokens: 61 });
      expect(reply).toMatchObject({ ok: false, blockedBy: "instance", retryAfterMs: Infinity });
    });

    it("answers reservations made together, of different shapes, each as if made one after another", async () => {
      // The Redis store sends the first at once and the rest as one batched script call: each keeps its own answer.
      const client = subject("client", null, 2);
      const small = subject("instance", 100);
      const unlimited = subject("instance", null);
      const once = subject("instance", null, 1);
      const replies = await Promise.all([
        store.reserve({ client, instances: [small, unlimited], tokens: 80 }),
        store.reserve({ client: null, instances: [small], tokens: 50 }),
        store.reserve({ client, instances: [small, unlimited], tokens: 10 }),
        store.reserve({ client, instances: [unlimited], tokens: 1 }),
        store.reserve({ client: null, instances: [once, small], tokens: 10 }),
        store.reserve({ client: null, instances: [once, small], tokens: 20 }),
      ]);
      expect(replies.map((reply) => (reply.ok ? `chose ${reply.chosen}` : `refused by ${reply.blockedBy}`))).toEqual([
        "chose 0",
        "refused by instance",
        "chose 0",
        "refused by client",
        "chose 0",
        "refused by instance",
      ]);
      expect(replies[2]).toMatchObject({ client: { tokens: 90, requests: 2 }, instances: [{ tokens: 90, requests: 2 }] });
      expect(replies[5]).toMatchObject({ instances: [{ requests: 1 }, { tokens: 90, retryAfterMs: expect.any(Number) }] });
    });

    it("keeps every reservation of a batch on one subject, for the batch itself and for the calls after it", async () => {
      const client = subject("client", 10_000, 100);
      const instance = subject("instance", 10_000, 100);
      const sizes = Array.from({ length: 20 }, (_, i) => 10 + i);
      const replies = await Promise.all(sizes.map((tokens) => store.reserve({ client, instances: [instance], tokens })));
      // Each saw the ones before it: the running totals climb one request at a time.
      expect(replies.map((reply) => reply.client?.requests).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(sizes.map((_, i) => i + 1));
      const after = await store.reserve({ client, instances: [instance], tokens: 0 });
      const total = sizes.reduce((sum, tokens) => sum + tokens, 0);
      expect(after).toMatchObject({ ok: true, client: { tokens: total, requests: 21 }, instances: [{ tokens: total, requests: 21 }] });
    });

    it("chooses an unlimited instance without counting anything", async () => {
      const reply = await store.reserve({ client: null, instances: [subject("instance", 1), subject("instance", null)], tokens: 5 });
      expect(reply).toMatchObject({ ok: true, chosen: 1, instances: [{ tokens: 0 }, { tokens: 0, requests: 0, last: -1 }] });
    });
  });
}

describe("redis store specifics", () => {
  it("keeps keys under the prefix with one hash tag, expiring once the window has passed", async () => {
    const store = await connectRedisStore();
    const instance = { key: "{limiter}:instance:ttl-check", limits: { tokenLimit: 100, requestLimit: null } };
    await store.reserve({ client: null, instances: [instance], tokens: 1 });
    const ttl = Number(await redis.cli(["PTTL", "contract:{limiter}:instance:ttl-check"]));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(WINDOW.windowMs + 2 * WINDOW.bucketMs);
    await until(async () => (await redis.cli(["EXISTS", "contract:{limiter}:instance:ttl-check"])) === "0", { timeoutMs: 3000 });
  });

  it("survives SCRIPT FLUSH between calls (NOSCRIPT is retried with the script itself)", async () => {
    const store = await connectRedisStore();
    const instance = subject("instance", 100);
    const first = await store.reserve({ client: null, instances: [instance], tokens: 40 });
    await redis.cli(["SCRIPT", "FLUSH"]);
    const second = await store.reserve({ client: null, instances: [instance], tokens: 40 });
    expect([first.ok, second]).toMatchObject([true, { ok: true, instances: [{ tokens: 80 }] }]);
    await redis.cli(["SCRIPT", "FLUSH"]);
    for (const reply of [first, second]) {
      if (reply.ok) await store.adjust({ keys: [instance.key], bucket: reply.bucket, delta: { tokens: -40, requests: 0 } });
    }
    expect(await store.reserve({ client: null, instances: [instance], tokens: 100 })).toMatchObject({ ok: true });
  });
});
