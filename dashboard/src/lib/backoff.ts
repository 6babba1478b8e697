// Delay before the next EventSource reconnect: doubling from 1 s to 30 s, with jitter so many tabs do not reconnect in step.

export const RECONNECT_BASE_MS = 1000;
export const RECONNECT_MAX_MS = 30_000;

/** `attempt` counts failures since the last good connection, from 0. Jitter keeps 50–100 % of the step. */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const step = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.max(0, attempt));
  return Math.round(step * (0.5 + random() / 2));
}
