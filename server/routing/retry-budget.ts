// Caps concurrent retries at a share of in-flight requests, so an outage cannot multiply the load it causes.

export type RetryBudget = {
  requestStarted(): void;
  requestFinished(): void;
  /** False when the budget is spent; otherwise the retry counts until `retryFinished`. */
  tryStartRetry(): boolean;
  retryFinished(): void;
  readonly inFlight: number;
  readonly retriesInFlight: number;
};

export function createRetryBudget(options: { ratio: number; minimum: number }): RetryBudget {
  let inFlight = 0;
  let retriesInFlight = 0;
  return {
    requestStarted: () => void inFlight++,
    requestFinished: () => void (inFlight = Math.max(0, inFlight - 1)),
    tryStartRetry() {
      const allowed = Math.max(options.minimum, Math.floor(inFlight * options.ratio));
      if (retriesInFlight >= allowed) return false;
      retriesInFlight++;
      return true;
    },
    retryFinished: () => void (retriesInFlight = Math.max(0, retriesInFlight - 1)),
    get inFlight() {
      return inFlight;
    },
    get retriesInFlight() {
      return retriesInFlight;
    },
  };
}
