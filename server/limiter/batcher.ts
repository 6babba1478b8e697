// Coalesces calls into batches: what arrives while a batch is in flight goes out together as the next one.

export type BatchSend<Item, Result> = (items: readonly Item[]) => Promise<readonly Result[]>;

export type BatcherOptions = {
  /** The most items one batch carries; a longer queue goes out as several. */
  maxBatch: number;
  /**
   * The longest an item waits for the batch in flight to come back before it goes out on its own batch: a store
   * that stalls must not hold later calls for its timeout plus theirs.
   */
  maxWaitMs: number;
  /**
   * Hold a call made with nothing in flight until the end of this event-loop turn, so the requests one turn
   * dispatches share a batch instead of the first going alone and the rest waiting a round trip behind it.
   */
  gatherWithinTurn?: boolean;
  /**
   * Batches out at once (default 1). With one, a call made just after a batch left waits for that batch's answer
   * before its own goes: up to two round trips, during which a busy server may have nothing else to do.
   */
  maxInFlight?: number;
};

type Waiting<Item, Result> = { item: Item; resolve: (result: Result) => void; reject: (error: unknown) => void };

/**
 * With nothing in flight an item is sent at once, so a lone caller never waits. Under load the queue fills while
 * a round trip is out, and the next send carries it all: one round trip (and one call's fixed cost) for many.
 */
export function createBatcher<Item, Result>(send: BatchSend<Item, Result>, options: BatcherOptions) {
  const maxInFlight = options.maxInFlight ?? 1;
  const queue: Waiting<Item, Result>[] = [];
  let inFlight = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let gathering = false;

  const sendQueued = () => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    while (queue.length > 0) {
      const batch = queue.splice(0, options.maxBatch);
      inFlight++;
      let sent: Promise<readonly Result[]>;
      try {
        sent = send(batch.map((waiting) => waiting.item));
      } catch (error) {
        sent = Promise.reject(error);
      }
      const rejectAll = (error: unknown) => {
        for (const waiting of batch) waiting.reject(error);
      };
      sent
        .then((results) => {
          if (results.length !== batch.length) return rejectAll(new Error(`a batch of ${batch.length} came back with ${results.length} results`));
          batch.forEach((waiting, index) => waiting.resolve(results[index]!));
        }, rejectAll)
        .finally(() => {
          inFlight--;
          if (inFlight < maxInFlight && queue.length > 0) sendQueued();
        });
    }
  };

  return {
    submit(item: Item): Promise<Result> {
      return new Promise<Result>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (queue.length >= options.maxBatch) sendQueued();
        else if (inFlight < maxInFlight && options.gatherWithinTurn) {
          if (!gathering) {
            gathering = true;
            setImmediate(() => {
              gathering = false;
              if (inFlight < maxInFlight) sendQueued();
            });
          }
        } else if (inFlight < maxInFlight) sendQueued();
        else if (timer === null) timer = setTimeout(sendQueued, options.maxWaitMs);
      });
    },
    /** Calls waiting for a batch to go out (not those in flight). */
    queued: () => queue.length,
  };
}
