// Binds the pure planner to live state: health, load, the limiter's headroom, and the per-model strategy.
import type { Config } from "../config/schema.ts";
import type { HealthRegistry } from "../health/registry.ts";
import { planCandidates, type Plan } from "./plan.ts";
import type { LoadTracker } from "./load.ts";
import type { CandidateState, Strategy } from "./strategies.ts";
import type { Target, TargetTable } from "./targets.ts";

export type Headroom = (target: Target, tokens: number) => { ok: true } | { ok: false; until: number };

export type Router = {
  targetsFor(model: string): readonly Target[] | undefined;
  /** @param tokens this request's estimate, for skipping instances without limiter headroom */
  plan(model: string, tried: ReadonlySet<string>, tokens: number): Plan;
  fallbacksFor(model: string): readonly string[];
  contextFallbacksFor(model: string): readonly string[];
  /** Larger means failed more recently (an order, not a time). */
  lastFailureAt(instance: string): number;
};

export type RouterOptions = {
  table: TargetTable;
  routing: Readonly<Config["routing"]>;
  health: HealthRegistry;
  load: LoadTracker;
  headroom?: Headroom;
  /** The limiter's share of an instance's budget in use, 0..1. */
  utilisation?: (target: Target) => number;
  random: () => number;
  now: () => number;
};

const ALWAYS: Headroom = () => ({ ok: true });

export function createRouter(options: RouterOptions): Router {
  let sequence = 0;
  const { routing, health, load } = options;
  const headroom = options.headroom ?? ALWAYS;

  const state = (target: Target): CandidateState => {
    const name = target.instance.name;
    const figures = load.get(name);
    const maxTpm = target.instance.max_tpm;
    const azureUsed = maxTpm && figures.azureRemainingTokens !== null ? 1 - figures.azureRemainingTokens / maxTpm : 0;
    return {
      inFlight: figures.inFlight,
      ewmaLatencyMs: figures.ewmaLatencyMs,
      utilisation: Math.min(1, Math.max(0, azureUsed, options.utilisation?.(target) ?? 0)),
      errorRate: health.errorRate(name),
    };
  };

  return {
    targetsFor: (model) => options.table.byModel.get(model),
    plan(model, tried, tokens) {
      const strategy: Strategy = routing.models[model]?.strategy ?? routing.strategy;
      return planCandidates({
        targets: options.table.byModel.get(model) ?? [],
        strategy,
        availability: (instance) => health.availability(instance),
        headroom: (target) => headroom(target, tokens),
        state,
        sequence: sequence++,
        random: options.random,
        tried,
      });
    },
    fallbacksFor: (model) => routing.fallbacks[model] ?? [],
    contextFallbacksFor: (model) => routing.context_window_fallbacks[model] ?? [],
    lastFailureAt: (instance) => health.failureOrder(instance),
  };
}
