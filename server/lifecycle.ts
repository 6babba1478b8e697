// Drain state shared by the app and the shutdown sequence: /health reads it, open streams watch its stop signal.

export type Lifecycle = {
  /** True from the first SIGTERM on: /health answers 503 so load balancers stop sending. */
  readonly draining: boolean;
  /** Aborts when the drain deadline passes: streams still open end with an SSE error frame. */
  readonly stopSignal: AbortSignal;
  startDraining(): void;
  stopOpenStreams(): void;
};

export function createLifecycle(): Lifecycle {
  let draining = false;
  const stop = new AbortController();
  return {
    get draining() {
      return draining;
    },
    stopSignal: stop.signal,
    startDraining() {
      draining = true;
    },
    stopOpenStreams() {
      draining = true;
      stop.abort();
    },
  };
}
