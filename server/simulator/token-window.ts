// Sliding-window counter (tokens or requests per window) for the simulator; the caller passes the time in.

export type TokenWindow = {
  /** Records `tokens` spent at `nowMs`; times must not go backwards. */
  add(nowMs: number, tokens: number): void;
  /** Tokens spent within the window ending at `nowMs`. */
  usedAt(nowMs: number): number;
  /** 0 when `need` more fits under `limit` now, else how long until enough of the window has expired. */
  retryAfterMs(nowMs: number, need: number, limit: number): number;
};

export function createTokenWindow(windowMs: number): TokenWindow {
  // Parallel arrays read from `head` make pruning amortised O(1) without a deque dependency.
  let times: number[] = [];
  let amounts: number[] = [];
  let head = 0;
  let total = 0;

  const prune = (nowMs: number): void => {
    const horizon = nowMs - windowMs;
    while (head < times.length && (times[head] ?? Infinity) <= horizon) {
      total -= amounts[head] ?? 0;
      head++;
    }
    if (head > 1024 && head * 2 > times.length) {
      times = times.slice(head);
      amounts = amounts.slice(head);
      head = 0;
    }
  };

  return {
    add(nowMs, tokens) {
      prune(nowMs);
      const last = times.length - 1;
      // Same-millisecond entries merge, which keeps the arrays short under a benchmark's load.
      if (last >= head && times[last] === nowMs) amounts[last] = (amounts[last] ?? 0) + tokens;
      else {
        times.push(nowMs);
        amounts.push(tokens);
      }
      total += tokens;
    },
    usedAt(nowMs) {
      prune(nowMs);
      return total;
    },
    retryAfterMs(nowMs, need, limit) {
      prune(nowMs);
      const excess = total + need - limit;
      // An empty window admits even a request larger than the whole limit; otherwise it could never run.
      if (excess <= 0 || total === 0) return 0;
      let freed = 0;
      for (let i = head; i < times.length; i++) {
        freed += amounts[i] ?? 0;
        if (freed >= excess || i === times.length - 1) return (times[i] ?? nowMs) + windowMs - nowMs;
      }
      return 0;
    },
  };
}
