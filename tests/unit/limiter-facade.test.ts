// The limiter facade in embedded mode (no Redis), on an injected clock.
import { describe, expect, it } from "bun:test";
import { createLimiter, type Limiter } from "../../server/limiter/limiter.ts";
import { createLogger } from "../../server/log.ts";
import { buildConfig } from "../_support/proxy.ts";

const T0 = 1_700_000_000_000;

function embeddedLimiter(): { limiter: Limiter; clock: { now: number } } {
  const clock = { now: T0 };
  const limiter = createLimiter({
    config: buildConfig({}),
    logger: createLogger({ write: () => {} }),
    now: () => clock.now,
  });
  return { limiter, clock };
}

const east = { name: "east", max_tpm: 1200, max_rpm: 100 };
const west = { name: "west", max_tpm: 5000 };

describe("limiter (embedded)", () => {
  it("answers at once, without a promise, when nothing limits the request and when the limits are counted in process", () => {
    const { limiter } = embeddedLimiter();
    const free = limiter.reserve({ instances: [{ name: "open" }], client: null, tokens: 10 });
    expect(free).not.toBeInstanceOf(Promise);
    expect(free).toMatchObject({ ok: true, chosen: 0, headers: {}, reservation: { store: "none" } });
    const limited = limiter.reserve({ instances: [east], client: null, tokens: 10 });
    expect(limited).not.toBeInstanceOf(Promise);
    expect(limited).toMatchObject({ ok: true, chosen: 0, reservation: { store: "local", tokens: 10 }, headers: { "x-ratelimit-remaining-tokens": "1190" } });
  });

  it("with max_tpm 1200 accepts between the limit minus one request and the limit, and capacity returns as the window slides", async () => {
    const { limiter, clock } = embeddedLimiter();
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 40; i++) {
      const tokens = 90 + ((i * 37) % 60);
      const outcome = await limiter.reserve({ instances: [east], client: null, tokens });
      if (outcome.ok) accepted += tokens;
      else refused++;
      clock.now += 100;
    }
    expect(accepted).toBeGreaterThan(1200 - 150);
    expect(accepted).toBeLessThanOrEqual(1200);
    expect(refused).toBeGreaterThan(0);
    const blocked = await limiter.reserve({ instances: [east], client: null, tokens: 400 });
    expect(blocked).toMatchObject({ ok: false, reason: "rate_limited", scope: "instance" });
    if (blocked.ok) return;
    clock.now += blocked.retryAfterMs - 1;
    expect((await limiter.reserve({ instances: [east], client: null, tokens: 400 })).ok).toBe(false);
    clock.now += 1;
    expect((await limiter.reserve({ instances: [east], client: null, tokens: 400 })).ok).toBe(true);
    clock.now += 61_000;
    expect((await limiter.reserve({ instances: [east], client: null, tokens: 1200 })).ok).toBe(true);
  });

  it("reconcile replaces the reservation with actual usage and refund takes it back, each at most once", async () => {
    const { limiter } = embeddedLimiter();
    const client = { name: "team-a", tpm: 1000, rpm: 5 };
    const first = await limiter.reserve({ instances: [east], client, tokens: 800 });
    if (!first.ok) throw new Error("expected a reservation");
    limiter.reconcile(first.reservation, 100);
    limiter.reconcile(first.reservation, 700);
    const second = await limiter.reserve({ instances: [east], client, tokens: 800 });
    if (!second.ok) throw new Error("expected room after reconcile");
    expect(second.headers["x-ratelimit-remaining-tokens"]).toBe("100");
    limiter.refund(second.reservation);
    limiter.refund(second.reservation);
    const third = await limiter.reserve({ instances: [east], client, tokens: 10 });
    expect(third.ok && third.headers).toMatchObject({
      "x-ratelimit-remaining-tokens": "890",
      "x-ratelimit-remaining-requests": "3",
    });
  });

  it("describes the client key in the headers, and the instance where the key sets no limit", async () => {
    const { limiter } = embeddedLimiter();
    const outcome = await limiter.reserve({ instances: [east], client: { name: "k", rpm: 20 }, tokens: 200 });
    expect(outcome).toEqual({
      ok: true,
      chosen: 0,
      reservation: expect.objectContaining({ instance: "east", client: "k", tokens: 200, bucket: T0 / 1000, keys: expect.any(Array), store: "local" }),
      headers: {
        "x-ratelimit-limit-requests": "20",
        "x-ratelimit-remaining-requests": "19",
        "x-ratelimit-reset-requests": "1m1s",
        "x-ratelimit-limit-tokens": "1200",
        "x-ratelimit-remaining-tokens": "1000",
        "x-ratelimit-reset-tokens": "1m1s",
      },
    });
  });

  it("moves on to the next candidate with room in the same call", async () => {
    const { limiter } = embeddedLimiter();
    await limiter.reserve({ instances: [east], client: null, tokens: 1000 });
    const outcome = await limiter.reserve({ instances: [east, west], client: null, tokens: 1000 });
    expect(outcome.ok && [outcome.chosen, outcome.reservation.instance]).toEqual([1, "west"]);
  });

  it("answers too_large for a request no candidate could ever take", async () => {
    const { limiter } = embeddedLimiter();
    expect(await limiter.reserve({ instances: [east, west], client: null, tokens: 6000 })).toEqual({
      ok: false,
      reason: "too_large",
      scope: "instance",
      retryAfterMs: 0,
      headers: {},
    });
  });

  it("reports no headroom for an instance that just filled, until its snapshot is a bucket old", async () => {
    const { limiter, clock } = embeddedLimiter();
    expect(limiter.headroom(east, 1200)).toEqual({ ok: true });
    await limiter.reserve({ instances: [east], client: null, tokens: 1100 });
    expect([limiter.headroom(east, 100), limiter.headroom(east, 101), limiter.headroom(west, 5000)]).toEqual([
      { ok: true },
      { ok: false, until: T0 + 1000 },
      { ok: true },
    ]);
    expect(limiter.utilisation(east)).toBeCloseTo(1100 / 1200);
    clock.now += 1001;
    expect(limiter.headroom(east, 101)).toEqual({ ok: true });
  });

  it("keeps reporting an instance's utilisation after its requests reconcile, until the window has passed", async () => {
    const { limiter, clock } = embeddedLimiter();
    const reserved = await limiter.reserve({ instances: [east], client: null, tokens: 600 });
    if (!reserved.ok) throw new Error("expected room");
    limiter.reconcile(reserved.reservation, 300);
    expect(limiter.utilisation(east)).toBeCloseTo(600 / 1200);
    clock.now += 60_001;
    expect(limiter.utilisation(east)).toBe(0);
  });

  it("keeps an instance out of headroom until the retry time its refusal computed", async () => {
    const { limiter, clock } = embeddedLimiter();
    const first = await limiter.reserve({ instances: [east], client: null, tokens: 1000 });
    clock.now += 10_000;
    const refused = await limiter.reserve({ instances: [east, west], client: null, tokens: 500 });
    expect(refused.ok && refused.chosen).toBe(1);
    expect(limiter.headroom(east, 500)).toEqual({ ok: false, until: T0 + 61_000 });
    // Our own refund frees room the snapshot cannot know about.
    if (first.ok) limiter.refund(first.reservation);
    expect(limiter.headroom(east, 500)).toEqual({ ok: true });
  });

  it("keeps no state for a call nobody limits, and says it runs in memory", async () => {
    const { limiter } = embeddedLimiter();
    const outcome = await limiter.reserve({ instances: [{ name: "free" }], client: { name: "anyone" }, tokens: 1e9 });
    expect(outcome).toMatchObject({ ok: true, reservation: { keys: [], store: "none" }, headers: {} });
    expect(limiter.status()).toEqual({ mode: "memory", degraded: false, reason: null });
    await limiter.close();
  });

  it("estimates exactly only when a candidate's remaining tokens are near", async () => {
    const { limiter } = embeddedLimiter();
    const body = { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 10 };
    const request = { operation: "chat/completions" as const, model: "gpt-4o", body, bodyBytes: JSON.stringify(body).length };
    expect((await limiter.estimate(request, { instances: [east], client: null })).exact).toBe(false);
    await limiter.reserve({ instances: [east], client: null, tokens: 1100 });
    expect((await limiter.estimate(request, { instances: [east], client: null })).exact).toBe(true);
    expect((await limiter.estimate(request, { instances: [east, west], client: null })).exact).toBe(false);
  });
});
