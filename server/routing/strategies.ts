// Pure orderings of a model's targets: which instance to try first, second, … for one request.
import type { Target } from "./targets.ts";

export type Strategy = "failover" | "weighted" | "round_robin";

export type OrderingInput = {
  targets: readonly Target[];
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
  }
}

/** Lowest priority number first; ties go to the heavier weight, then configuration order. */
export function orderByPriority(targets: readonly Target[]): Target[] {
  return [...targets].sort(
    (a, b) => a.instance.priority - b.instance.priority || b.instance.weight - a.instance.weight,
  );
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
