// Pure orderings of a model's candidates: which instance to try first, second, … for one request.
import type { Target } from "./targets.ts";

export const STRATEGIES = ["failover", "weighted", "round_robin", "composite", "latency"] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** What a strategy may weigh about one candidate, captured before ordering. */
export type CandidateState = {
  inFlight: number;
  ewmaLatencyMs: number | null;
  /** 0..1 share of the instance's token budget in use (the proxy's window or Azure's remaining header, whichever is higher). */
  utilisation: number;
  /** 0..1 failures among recent requests. */
  errorRate: number;
};

export type OrderingInput = {
  targets: readonly Target[];
  state: (target: Target) => CandidateState;
  /** A counter that increases once per request, for round robin. */
  sequence: number;
  /** Uniform in [0, 1). */
  random: () => number;
};

export function orderTargets(strategy: Strategy, input: OrderingInput): Target[] {
  switch (strategy) {
    case "failover":
      return orderByPriority(input.targets);
    case "weighted":
      return orderByWeight(input.targets, input.random);
    case "round_robin":
      return rotate(input.targets, input.sequence);
    case "composite":
      return orderByComposite(input);
    case "latency":
      return orderByTwoChoices(input);
  }
}

/** Lowest priority number first; ties go to the heavier weight, then configuration order. */
export function orderByPriority(targets: readonly Target[]): Target[] {
  return [...targets].sort((a, b) => a.instance.priority - b.instance.priority || b.instance.weight - a.instance.weight);
}

/** Weighted sampling without replacement: the first pick follows the weights, later picks the remaining weights. */
export function orderByWeight(targets: readonly Target[], random: () => number): Target[] {
  const pool = [...targets];
  const order: Target[] = [];
  while (pool.length > 0) {
    const total = pool.reduce((sum, target) => sum + target.instance.weight, 0);
    let index = 0;
    if (total > 0) {
      let point = random() * total;
      index = pool.findIndex((target) => (point -= target.instance.weight) < 0);
      if (index === -1) index = pool.length - 1;
    }
    order.push(...pool.splice(index, 1));
  }
  return order;
}

export function rotate(targets: readonly Target[], sequence: number): Target[] {
  if (targets.length === 0) return [];
  const start = sequence % targets.length;
  return [...targets.slice(start), ...targets.slice(0, start)];
}

/** An instance with no latency sample yet is assumed as fast as this, so new instances get traffic. */
const UNKNOWN_LATENCY_MS = 100;

/**
 * Composite cost (lower is better), within each priority group:
 *   (ewmaLatencyMs + 50) × (inFlight + 1) × (1 + 4 × errorRate) / max(0.05, 1 − utilisation) / weight
 * Latency and queueing multiply (a fast but busy instance is slow for the next request), errors
 * penalise steeply, and an instance near its token budget is avoided before Azure throttles it.
 */
export function compositeCost(state: CandidateState, weight: number): number {
  const latency = (state.ewmaLatencyMs ?? UNKNOWN_LATENCY_MS) + 50;
  const headroom = Math.max(0.05, 1 - state.utilisation);
  return (latency * (state.inFlight + 1) * (1 + 4 * state.errorRate)) / headroom / Math.max(weight, 0.001);
}

export function orderByComposite(input: OrderingInput): Target[] {
  const costs = new Map(input.targets.map((target) => [target, compositeCost(input.state(target), target.instance.weight)]));
  // Ties (e.g. no data yet) are broken at random so identical instances share the load.
  const jitter = new Map(input.targets.map((target) => [target, input.random()]));
  return [...input.targets].sort(
    (a, b) =>
      a.instance.priority - b.instance.priority || costs.get(a)! - costs.get(b)! || jitter.get(a)! - jitter.get(b)!,
  );
}

/** Latency × queue: the quantity power-of-two-choices compares. */
export function latencyCost(state: CandidateState): number {
  return (state.ewmaLatencyMs ?? UNKNOWN_LATENCY_MS) * (state.inFlight + 1);
}

/** Power of two choices: sample two candidates, lead with the cheaper; the rest follow by cost as fallbacks. */
export function orderByTwoChoices(input: OrderingInput): Target[] {
  const pool = [...input.targets];
  if (pool.length <= 1) return pool;
  const first = pool.splice(Math.floor(input.random() * pool.length), 1)[0]!;
  const second = pool.splice(Math.floor(input.random() * pool.length), 1)[0]!;
  const cost = (target: Target) => latencyCost(input.state(target));
  const [lead, other] = cost(second) < cost(first) ? [second, first] : [first, second];
  return [lead, ...[other, ...pool].sort((a, b) => cost(a) - cost(b))];
}
