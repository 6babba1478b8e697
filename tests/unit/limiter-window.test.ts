// The limiter's pure parts with injected time: window math, the reservation decision, headers, fit check, health, snapshots.
import { describe, expect, it } from "bun:test";
import { formatDuration, toRateLimitHeaders } from "../../server/limiter/headers.ts";
import { reserveAcross } from "../../server/limiter/reserve.ts";
import type { ReserveCommand } from "../../server/limiter/store.ts";
import { initialStoreHealth, markStoreDown, markStoreUp } from "../../server/limiter/store-health.ts";
import { checkCouldEverFit, clientSpec, instanceSpec } from "../../server/limiter/subjects.ts";
import { createUsageSnapshots } from "../../server/limiter/usage-snapshots.ts";
import {
  MINUTE_WINDOW,
  adjustWindow,
  advanceWindow,
  commitToWindow,
  createSubjectWindow,
  retryAfterInWindow,
  type SubjectWindow,
} from "../../server/limiter/window.ts";

const T0 = 1_700_000_000_000; // a whole second, so bucket arithmetic below reads plainly
const TPM = { tokenLimit: 1200, requestLimit: null };

function windows() {
  const byKey = new Map<string, SubjectWindow>();
  return (key: string) => {
    const existing = byKey.get(key);
    if (existing) return existing;
    const created = createSubjectWindow();
    byKey.set(key, created);
    return created;
  };
}

describe("subject window", () => {
  it("counts a reservation for more than the window and at most one bucket longer", () => {
    const window = createSubjectWindow();
    commitToWindow(window, 100, T0 + 999, MINUTE_WINDOW);
    advanceWindow(window, T0 + 60_999, MINUTE_WINDOW);
    expect(window.tokens).toBe(100);
    advanceWindow(window, T0 + 61_000, MINUTE_WINDOW);
    expect(window.tokens).toBe(0);
  });

  it("says when enough capacity frees for the request, oldest buckets first", () => {
    const window = createSubjectWindow();
    commitToWindow(window, 500, T0, MINUTE_WINDOW);
    commitToWindow(window, 500, T0 + 10_000, MINUTE_WINDOW);
    const now = T0 + 20_500;
    advanceWindow(window, now, MINUTE_WINDOW);
    expect(retryAfterInWindow(window, 200, TPM, now, MINUTE_WINDOW)).toBe(0);
    // 300 must free: the first 500 leaves at T0 + 61 s.
    expect(retryAfterInWindow(window, 500, TPM, now, MINUTE_WINDOW)).toBe(61_000 - 20_500);
    // 800 must free: both must leave.
    expect(retryAfterInWindow(window, 1000, TPM, now, MINUTE_WINDOW)).toBe(71_000 - 20_500);
    expect(retryAfterInWindow(window, 1201, TPM, now, MINUTE_WINDOW)).toBe(Infinity);
  });

  it("applies the request limit alongside the token limit", () => {
    const window = createSubjectWindow();
    const limits = { tokenLimit: null, requestLimit: 2 };
    commitToWindow(window, 1, T0, MINUTE_WINDOW);
    commitToWindow(window, 1, T0 + 5_000, MINUTE_WINDOW);
    expect(retryAfterInWindow(window, 1, limits, T0 + 6_000, MINUTE_WINDOW)).toBe(61_000 - 6_000);
  });

  it("adjusts a live bucket, never below zero, and ignores one that left the window", () => {
    const window = createSubjectWindow();
    const bucket = commitToWindow(window, 300, T0, MINUTE_WINDOW);
    adjustWindow(window, bucket, { tokens: -120, requests: 0 }, T0 + 1_000, MINUTE_WINDOW);
    expect(window).toMatchObject({ tokens: 180, requests: 1 });
    adjustWindow(window, bucket, { tokens: -1000, requests: -5 }, T0 + 2_000, MINUTE_WINDOW);
    expect(window).toMatchObject({ tokens: 0, requests: 0 });
    const late = createSubjectWindow();
    const old = commitToWindow(late, 300, T0, MINUTE_WINDOW);
    adjustWindow(late, old, { tokens: 500, requests: 0 }, T0 + 61_000, MINUTE_WINDOW);
    expect(late).toMatchObject({ tokens: 0, requests: 0 });
  });
});

describe("reserveAcross", () => {
  const command = (tokens: number, instances = [{ key: "a", limits: { tokenLimit: 1000, requestLimit: null } }]): ReserveCommand => ({
    client: { key: "c", limits: { tokenLimit: null, requestLimit: 2 } },
    instances,
    tokens,
  });

  it("charges the client and the first instance with room, all or nothing", () => {
    const windowOf = windows();
    const instances = [
      { key: "small", limits: { tokenLimit: 300, requestLimit: null } },
      { key: "large", limits: { tokenLimit: 1000, requestLimit: null } },
    ];
    const first = reserveAcross(command(200, instances), windowOf, T0, MINUTE_WINDOW);
    const second = reserveAcross(command(200, instances), windowOf, T0, MINUTE_WINDOW);
    const third = reserveAcross(command(200, instances), windowOf, T0, MINUTE_WINDOW);
    expect(first).toMatchObject({ ok: true, chosen: 0 });
    expect(second).toMatchObject({ ok: true, chosen: 1 });
    expect(third).toMatchObject({ ok: false, blockedBy: "client", retryAfterMs: 61_000 });
    expect(windowOf("small").tokens).toBe(200);
    expect(windowOf("large").tokens).toBe(200);
  });

  it("answers the soonest instance when every candidate is full", () => {
    const windowOf = windows();
    const instances = [
      { key: "x", limits: { tokenLimit: 100, requestLimit: null } },
      { key: "y", limits: { tokenLimit: 100, requestLimit: null } },
    ];
    const client = { key: "c", limits: { tokenLimit: null, requestLimit: null } };
    reserveAcross({ client, instances: [instances[0]!], tokens: 100 }, windowOf, T0, MINUTE_WINDOW);
    reserveAcross({ client, instances: [instances[1]!], tokens: 100 }, windowOf, T0 + 5_000, MINUTE_WINDOW);
    const reply = reserveAcross({ client: null, instances, tokens: 50 }, windowOf, T0 + 6_000, MINUTE_WINDOW);
    expect(reply).toEqual({
      ok: false,
      blockedBy: "instance",
      retryAfterMs: 55_000,
      nowMs: T0 + 6_000,
      client: null,
      instances: [
        { tokens: 100, requests: 1, last: T0 / 1000, retryAfterMs: 55_000 },
        { tokens: 100, requests: 1, last: T0 / 1000 + 5, retryAfterMs: 60_000 },
      ],
    });
  });

  it("never fits a request larger than every instance's token limit", () => {
    const reply = reserveAcross(command(1001), windows(), T0, MINUTE_WINDOW);
    expect(reply).toMatchObject({ ok: false, blockedBy: "instance", retryAfterMs: Infinity });
  });

  it("with max_tpm 1200 accepts between the limit minus one request and the limit, then slides", () => {
    const windowOf = windows();
    let random = 7;
    const nextSize = () => (random = (random * 48271) % 2147483647) % 150 + 1;
    let accepted = 0;
    let now = T0;
    for (let i = 0; i < 200; i++, now += 50) {
      const size = nextSize();
      const reply = reserveAcross({ client: null, instances: [{ key: "i", limits: TPM }], tokens: size }, windowOf, now, MINUTE_WINDOW);
      if (reply.ok) accepted += size;
    }
    expect(accepted).toBeGreaterThan(1200 - 150);
    expect(accepted).toBeLessThanOrEqual(1200);
    // Everything was reserved within the first 10 s: all of it is back 61 s later, none of it 1 s earlier.
    expect(reserveAcross({ client: null, instances: [{ key: "i", limits: TPM }], tokens: 1200 }, windowOf, T0 + 60_999, MINUTE_WINDOW).ok).toBe(false);
    expect(reserveAcross({ client: null, instances: [{ key: "i", limits: TPM }], tokens: 1200 }, windowOf, T0 + 71_000, MINUTE_WINDOW).ok).toBe(true);
  });
});

describe("rate-limit headers", () => {
  it("spells limits, remaining and reset the way OpenAI does", () => {
    const usage = { tokens: 400, requests: 3, last: T0 / 1000 };
    expect(toRateLimitHeaders({ requests: { limit: 20, usage }, tokens: { limit: 1000, usage } }, T0 + 250, MINUTE_WINDOW)).toEqual({
      "x-ratelimit-limit-requests": "20",
      "x-ratelimit-remaining-requests": "17",
      "x-ratelimit-reset-requests": "1m0.75s",
      "x-ratelimit-limit-tokens": "1000",
      "x-ratelimit-remaining-tokens": "600",
      "x-ratelimit-reset-tokens": "1m0.75s",
    });
    expect(toRateLimitHeaders({ requests: null, tokens: null }, T0, MINUTE_WINDOW)).toEqual({});
    expect([formatDuration(20), formatDuration(1500), formatDuration(59_999), formatDuration(360_000)]).toEqual([
      "20ms",
      "1.5s",
      "59.999s",
      "6m0s",
    ]);
    expect([formatDuration(999.6), formatDuration(1001), formatDuration(60_420), formatDuration(61_050), formatDuration(-5)]).toEqual([
      "1s",
      "1.001s",
      "1m0.42s",
      "1m1.05s",
      "0ms",
    ]);
  });
});

describe("checkCouldEverFit", () => {
  it("rejects a request above the client's tpm or above every candidate's max_tpm", () => {
    const instances = [{ name: "east", max_tpm: 1000 }, { name: "west", max_tpm: 4000 }];
    expect(checkCouldEverFit({ tokens: 3000, instances, client: null })).toEqual({ ok: true });
    expect(checkCouldEverFit({ tokens: 5000, instances, client: null })).toMatchObject({ ok: false, scope: "instance", limitTokens: 4000 });
    expect(checkCouldEverFit({ tokens: 3000, instances, client: { name: "k", tpm: 2000 } })).toMatchObject({
      ok: false,
      scope: "client",
      limitTokens: 2000,
    });
    expect(checkCouldEverFit({ tokens: 1e9, instances: [...instances, { name: "unlimited" }], client: null })).toEqual({ ok: true });
  });
});

describe("store health", () => {
  it("warns at most once per interval and reports recovery only after a warning", () => {
    let health = initialStoreHealth("connecting to Redis");
    const first = markStoreDown(health, "ECONNREFUSED", 1_000, 10_000);
    const again = markStoreDown(first.health, "ECONNREFUSED", 5_000, 10_000);
    const later = markStoreDown(again.health, "timeout", 11_000, 10_000);
    expect([first.warn, again.warn, later.warn]).toEqual([true, false, true]);
    const back = markStoreUp(later.health);
    expect(back).toMatchObject({ recovered: true, health: { up: true, reason: null } });
    health = markStoreUp(initialStoreHealth("connecting to Redis")).health;
    expect(health.up).toBe(true);
  });
});

describe("usage snapshots", () => {
  it("trusts a 'no room' reply and a refusal for one bucket, reporting the refusal's retry time", () => {
    let now = T0;
    const snapshots = createUsageSnapshots({ now: () => now, trustMs: 1000, windowMs: 60_000 });
    expect(snapshots.headroom("i", TPM, 500)).toEqual({ ok: true });
    expect(snapshots.headroom("i", TPM, 1201)).toEqual({ ok: false, until: Infinity });
    snapshots.record("i", { tokens: 1000, requests: 5, last: 0 });
    expect(snapshots.headroom("i", TPM, 100)).toEqual({ ok: true });
    expect(snapshots.headroom("i", TPM, 500)).toEqual({ ok: false, until: T0 + 1000 });
    expect([snapshots.tokensLeft("i", TPM), snapshots.utilisation("i", TPM)]).toEqual([200, 1000 / 1200]);
    now += 1001;
    expect(snapshots.headroom("i", TPM, 500)).toEqual({ ok: true });

    snapshots.record("i", { tokens: 1000, requests: 5, last: 0 }, { tokens: 400, retryAfterMs: 30_000 });
    now += 500;
    expect(snapshots.headroom("i", TPM, 400)).toEqual({ ok: false, until: T0 + 1001 + 30_000 });
    expect(snapshots.refusedUntil("i", 400)).toBe(T0 + 1001 + 30_000);
    expect(snapshots.headroom("i", TPM, 150)).toEqual({ ok: true });
    snapshots.forget("i");
    expect(snapshots.headroom("i", TPM, 400)).toEqual({ ok: true });
    snapshots.record("i", { tokens: 1000, requests: 5, last: 0 }, { tokens: 400, retryAfterMs: 30_000 });
    now += 1001;
    expect([snapshots.refusedUntil("i", 400), snapshots.headroom("i", TPM, 400)]).toEqual([null, { ok: true }]);
  });
});

describe("subject specs", () => {
  it("builds a frozen subject's spec once, and a mutable one's on every call", () => {
    const configured = Object.freeze({ name: "east", max_tpm: 1200 });
    const spec = instanceSpec(configured);
    expect(spec).toEqual({ key: "{limiter}:instance:east", limits: { tokenLimit: 1200, requestLimit: null } });
    expect(instanceSpec(configured)).toBe(spec);
    expect(Object.isFrozen(spec) && Object.isFrozen(spec.limits)).toBe(true);

    const mutable: { name: string; max_tpm?: number } = { name: "west", max_tpm: 100 };
    expect(instanceSpec(mutable).limits.tokenLimit).toBe(100);
    mutable.max_tpm = 200;
    expect(instanceSpec(mutable).limits.tokenLimit).toBe(200);

    const key = Object.freeze({ name: "team-a", rpm: 20 });
    expect(clientSpec(key)).toBe(clientSpec(key));
    expect(clientSpec(key)).toEqual({ key: "{limiter}:client:team-a", limits: { tokenLimit: null, requestLimit: 20 } });
    expect(clientSpec(Object.freeze({ name: "unlimited" }))).toBeNull();
  });
});
