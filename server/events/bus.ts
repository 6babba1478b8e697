// A typed in-process event bus: state changes fan out to the log now, and to the admin event stream later.

export type ProxyEvent =
  | {
      type: "instance_state";
      instance: string;
      from: string;
      to: string;
      reason: string | null;
      at: number;
    }
  | {
      /** A client request settled with status ≥ 400. */
      type: "request_error";
      at: number;
      model: string;
      instance: string | null;
      status: number;
      code: string | null;
      request_id: string;
    }
  | {
      /** Overrides or a reload changed the fleet's instances. */
      type: "fleet_changed";
      at: number;
      reason: "override" | "reload";
      instances: string[];
    };

export type EventBus = {
  publish(event: ProxyEvent): void;
  /** Returns the unsubscribe function; a listener that throws never affects the publisher. */
  subscribe(listener: (event: ProxyEvent) => void): () => void;
};

export function createEventBus(): EventBus {
  const listeners = new Set<(event: ProxyEvent) => void>();
  return {
    publish(event) {
      for (const listener of listeners) {
        try {
          listener(event);
        } catch {
          // A broken subscriber must not break the request that published.
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
