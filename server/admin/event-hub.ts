// Fans the bus out to every /admin/events subscriber: state and config changes as they happen, metrics each second, heartbeats.
import type { EventBus, ProxyEvent } from "../events/bus.ts";
import { HEARTBEAT_FRAME, createFrameQueue, toSseFrame, type FrameQueue } from "./frame-queue.ts";
import type { InstanceSecond, LiveMetrics } from "./live-metrics.ts";
import type { InstanceView } from "./views.ts";

import type { RecentError } from "./wire.ts";

export type { RecentError };

export type EventHubOptions = {
  bus: EventBus;
  metrics: LiveMetrics;
  views: () => InstanceView[];
  view: (instance: string) => InstanceView | null;
  /** The instances a metrics frame covers (cheaper than building every view each second). */
  names: () => string[];
  live: (instance: string) => { utilisation: number; in_flight: number };
  now: () => number;
  metricsIntervalMs?: number;
  heartbeatMs?: number;
  queueLimit?: number;
  recentErrors?: number;
};

export type EventHub = {
  /** A new subscriber whose first frame is the snapshot; call release when the connection ends. */
  subscribe(): { queue: FrameQueue; release: () => void };
  subscriberCount(): number;
  /** Each subscriber's backlog and how many frames it lost to the bound (for tests and diagnostics). */
  backlog(): Array<{ size: number; dropped: number }>;
  stop(): void;
};

export function createEventHub(options: EventHubOptions): EventHub {
  const subscribers = new Set<FrameQueue>();
  const recent: RecentError[] = [];
  const recentLimit = options.recentErrors ?? 50;
  const queueLimit = options.queueLimit ?? 256;
  const broadcast = (frame: string) => {
    for (const queue of subscribers) queue.push(frame);
  };

  const onEvent = (event: ProxyEvent) => {
    switch (event.type) {
      case "instance_state": {
        if (subscribers.size === 0) return;
        const instance = options.view(event.instance);
        if (instance) broadcast(toSseFrame("instance", { at: event.at, instance }));
        return;
      }
      case "request_error": {
        const { type: _, ...error } = event;
        recent.push(error);
        if (recent.length > recentLimit) recent.shift();
        // During an outage every request errors: serialise only for someone who is listening.
        if (subscribers.size > 0) broadcast(toSseFrame("request_error", error));
        return;
      }
      case "fleet_changed": {
        if (subscribers.size === 0) return;
        for (const name of event.instances) {
          const instance = options.view(name);
          if (instance) broadcast(toSseFrame("instance", { at: event.at, instance }));
        }
        broadcast(toSseFrame("config", { at: event.at, reason: event.reason, instances: event.instances }));
        return;
      }
    }
  };
  const unsubscribe = options.bus.subscribe(onEvent);

  // Metrics are drained every interval even with nobody watching, so what accumulates stays one second's worth.
  let lastDrain = options.now();
  const metricsTimer = setInterval(() => {
    const at = options.now();
    const instances: Record<string, InstanceSecond> = options.metrics.drain(options.names(), options.live, at - lastDrain);
    lastDrain = at;
    if (subscribers.size > 0) broadcast(toSseFrame("metrics", { at, instances }));
  }, options.metricsIntervalMs ?? 1000);
  const heartbeatTimer = setInterval(() => broadcast(HEARTBEAT_FRAME), options.heartbeatMs ?? 15_000);
  metricsTimer.unref();
  heartbeatTimer.unref();

  return {
    subscribe() {
      const queue = createFrameQueue(queueLimit);
      queue.push(toSseFrame("snapshot", { at: options.now(), instances: options.views(), recent_errors: [...recent] }));
      subscribers.add(queue);
      return {
        queue,
        release() {
          subscribers.delete(queue);
          queue.close();
        },
      };
    },
    subscriberCount: () => subscribers.size,
    backlog: () => [...subscribers].map((queue) => ({ size: queue.size, dropped: queue.dropped })),
    stop() {
      clearInterval(metricsTimer);
      clearInterval(heartbeatTimer);
      unsubscribe();
      for (const queue of subscribers) queue.close();
      subscribers.clear();
    },
  };
}
