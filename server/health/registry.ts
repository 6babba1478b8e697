// Holds every instance's health and applies events to it, publishing each status change once.
import type { EventBus } from "../events/bus.ts";
import {
  HEALTHY,
  availabilityOf,
  errorRateOf,
  nextHealth,
  statusOf,
  takeProbe,
  type Availability,
  type HealthEvent,
  type HealthPolicy,
  type InstanceHealth,
} from "./state.ts";

export type HealthRegistry = {
  get(instance: string): InstanceHealth;
  availability(instance: string): Availability;
  /** Share of failed requests in the error-rate window, 0..1. */
  errorRate(instance: string): number;
  record(instance: string, event: HealthEvent): void;
  /** Marks the half-open probe slot as taken by the request about to be sent. */
  takeProbe(instance: string): void;
  /** Overwrites an instance's state from a shared store (another replica's observation). */
  adopt(instance: string, state: InstanceHealth): void;
  snapshot(): ReadonlyMap<string, InstanceHealth>;
  /** Orders instances by their last failure, exact even when two failed within the same millisecond. */
  failureOrder(instance: string): number;
};

export type HealthRegistryOptions = {
  policy: HealthPolicy;
  now: () => number;
  bus: EventBus;
  /** Called after every local change, so a shared store can tell the other replicas. */
  onChange?: (instance: string, state: InstanceHealth, event: HealthEvent) => void;
};

export function createHealthRegistry(options: HealthRegistryOptions): HealthRegistry {
  const states = new Map<string, InstanceHealth>();
  const failureOrders = new Map<string, number>();
  let failures = 0;
  const get = (instance: string) => states.get(instance) ?? HEALTHY;

  const set = (instance: string, next: InstanceHealth, reason: string | null) => {
    const previous = get(instance);
    if (next === previous) return false;
    states.set(instance, next);
    const now = options.now();
    const from = statusOf(previous, now);
    const to = statusOf(next, now);
    if (from !== to) options.bus.publish({ type: "instance_state", instance, from, to, reason, at: now });
    return true;
  };

  return {
    get,
    availability: (instance) => availabilityOf(get(instance), options.now()),
    errorRate: (instance) => errorRateOf(get(instance), options.now()),
    record(instance, event) {
      if (event.type === "failure" || event.type === "misconfigured" || (event.type === "probe" && !event.ok)) {
        failureOrders.set(instance, ++failures);
      }
      const next = nextHealth(get(instance), event, options.now(), options.policy);
      if (set(instance, next, describe(event, next))) options.onChange?.(instance, next, event);
    },
    takeProbe(instance) {
      set(instance, takeProbe(get(instance), options.now()), "probe request");
    },
    adopt(instance, state) {
      set(instance, state, "shared by another replica");
    },
    snapshot: () => states,
    failureOrder: (instance) => failureOrders.get(instance) ?? 0,
  };
}

function describe(event: HealthEvent, state: InstanceHealth): string | null {
  switch (event.type) {
    case "throttled":
      return state.cooldownReason;
    case "failure":
    case "misconfigured":
      return event.detail;
    case "probe":
      return event.ok ? "probe succeeded" : (event.detail ?? "probe failed");
    case "reset":
      return "reset";
    case "success":
      return "request succeeded";
  }
}
