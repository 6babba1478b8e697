// The last usage each store reply showed per subject: synchronous answers for routing, estimation and repeat refusals.
import { fitsWindow, type Limits, type WindowUsage } from "./window.ts";

/** Same shape the router's planner takes: `until` is when this instance should have room again. */
export type Headroom = { ok: true } | { ok: false; until: number };

export type UsageSnapshots = {
  /** `retryAfterMs` > 0: the reply refused `tokens` here and said how long until they fit. */
  record(key: string, usage: WindowUsage, refusal?: { tokens: number; retryAfterMs: number }): void;
  /** Our own reconcile or refund may have freed room: stop trusting what we saw. */
  forget(key: string): void;
  usage(key: string): WindowUsage | null;
  /**
   * The last reply's usage while it is less than a window old (what the admin view shows). Unlike the trusted
   * snapshot it survives our own reconcile, which would otherwise blank it after every request.
   */
  recentUsage(key: string): WindowUsage | null;
  /** Forgets the subject entirely (an operator reset its window). */
  drop(key: string): void;
  /** When a recent refusal of at least `tokens` said they fit again; null when there is none to trust. */
  refusedUntil(key: string, tokens: number): number | null;
  /** Advisory (reserve decides): refuses only on a recent reply that showed too little room. */
  headroom(key: string, limits: Limits, tokens: number): Headroom;
  /** Share of the limit in use by the last reply, 0..1, surviving our own reconcile like recentUsage; 0 once a window old. */
  utilisation(key: string, limits: Limits): number;
  /** Tokens left by the last reply (Infinity when not token-limited); the limit itself before any reply. */
  tokensLeft(key: string, limits: Limits): number;
};

type Snapshot = { usage: WindowUsage; atMs: number; refusedTokens: number; retryAtMs: number };

/**
 * @param trustMs how long a reply is believed: other replicas' reconciles free room we cannot see, and nothing
 * refreshes a subject that routing skips, so after this the next reserve asks the store again.
 */
export function createUsageSnapshots(options: { now: () => number; trustMs: number; windowMs: number }): UsageSnapshots {
  const byKey = new Map<string, Snapshot>();
  const lastSeen = new Map<string, { usage: WindowUsage; atMs: number }>();
  const trusted = (key: string): Snapshot | null => {
    const snapshot = byKey.get(key);
    return snapshot && options.now() - snapshot.atMs <= options.trustMs ? snapshot : null;
  };
  const refusedUntil = (key: string, tokens: number): number | null => {
    const snapshot = trusted(key);
    if (!snapshot || tokens < snapshot.refusedTokens || options.now() >= snapshot.retryAtMs) return null;
    return snapshot.retryAtMs;
  };
  return {
    record(key, usage, refusal) {
      const atMs = options.now();
      lastSeen.set(key, { usage, atMs });
      const refused = refusal !== undefined && refusal.retryAfterMs > 0 && Number.isFinite(refusal.retryAfterMs);
      byKey.set(key, {
        usage,
        atMs,
        refusedTokens: refused ? refusal.tokens : Infinity,
        retryAtMs: refused ? atMs + refusal.retryAfterMs : atMs,
      });
    },
    forget(key) {
      byKey.delete(key);
    },
    usage(key) {
      return byKey.get(key)?.usage ?? null;
    },
    recentUsage(key) {
      const seen = lastSeen.get(key);
      return seen && options.now() - seen.atMs <= options.windowMs ? seen.usage : null;
    },
    drop(key) {
      byKey.delete(key);
      lastSeen.delete(key);
    },
    refusedUntil,
    headroom(key, limits, tokens) {
      if (limits.tokenLimit !== null && tokens > limits.tokenLimit) return { ok: false, until: Infinity };
      // A larger request than one refused waits at least as long as the window computed for it.
      const retryAtMs = refusedUntil(key, tokens);
      if (retryAtMs !== null) return { ok: false, until: retryAtMs };
      const snapshot = trusted(key);
      if (!snapshot || fitsWindow(snapshot.usage, tokens, limits)) return { ok: true };
      return { ok: false, until: snapshot.atMs + options.trustMs };
    },
    utilisation(key, limits) {
      // Read what was last seen, not the trusted snapshot: every request's reconcile forgets that one, which would
      // show an instance in steady use as idle to the gauges and the composite score.
      const snapshot = lastSeen.get(key);
      if (!snapshot || options.now() - snapshot.atMs > options.windowMs) return 0;
      const tokenShare = limits.tokenLimit === null ? 0 : snapshot.usage.tokens / limits.tokenLimit;
      const requestShare = limits.requestLimit === null ? 0 : snapshot.usage.requests / limits.requestLimit;
      return Math.min(1, Math.max(tokenShare, requestShare));
    },
    tokensLeft(key, limits) {
      if (limits.tokenLimit === null) return Infinity;
      const used = byKey.get(key)?.usage.tokens ?? 0;
      return Math.max(0, limits.tokenLimit - used);
    },
  };
}
