// An upstream body as it arrives: bytes queue up until read, reading waits for the next bytes, and a full queue
// pauses the connection so a slow client holds back the upstream instead of filling memory.

export type ReadResult = { done: false; value: Uint8Array } | { done: true; value: undefined };

export type BodyReader = {
  /** The next bytes (every chunk queued so far, joined), or done once the body has ended. Rejects if it was cut. */
  read(): Promise<ReadResult>;
  /** Stops reading: the connection is dropped if the body had not ended. */
  cancel(): Promise<void>;
  /** The whole body (reads to the end). */
  bytes(): Promise<Uint8Array>;
  /** What is left of the body when it has already ended (no promise, no wait); null while more may come or it failed. */
  takeRestIfEnded(): Uint8Array | null;
};

export type BodyFlow = {
  pause(): void;
  resume(): void;
  /** The reader gave up before the end. */
  cancel(): void;
};

export type BodyQueue = {
  push(bytes: Uint8Array): void;
  end(): void;
  fail(error: Error): void;
  reader: BodyReader;
};

/** Queued and unread beyond this, the connection stops reading until the reader catches up. */
const PAUSE_ABOVE_BYTES = 1024 * 1024;
const DONE: ReadResult = Object.freeze({ done: true, value: undefined });

export function createBodyQueue(flow: BodyFlow): BodyQueue {
  let chunks: Uint8Array[] = [];
  let queuedBytes = 0;
  let ended = false;
  let failure: Error | null = null;
  let cancelled = false;
  let paused = false;
  let waiter: { resolve: (result: ReadResult) => void; reject: (error: Error) => void } | null = null;

  const take = (): Uint8Array => {
    const value = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    chunks = [];
    queuedBytes = 0;
    if (paused) {
      paused = false;
      flow.resume();
    }
    return value;
  };

  const wake = () => {
    const waiting = waiter;
    if (!waiting) return;
    waiter = null;
    if (chunks.length > 0) waiting.resolve({ done: false, value: take() });
    else if (failure) waiting.reject(failure);
    else if (ended) waiting.resolve(DONE);
  };

  const reader: BodyReader = {
    read() {
      if (chunks.length > 0) return Promise.resolve({ done: false, value: take() });
      if (failure) return Promise.reject(failure);
      if (ended || cancelled) return Promise.resolve(DONE);
      if (waiter) return Promise.reject(new Error("a body read is already waiting"));
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
    cancel() {
      if (!cancelled && !ended && !failure) {
        cancelled = true;
        chunks = [];
        flow.cancel();
        // Nothing more will arrive to settle a waiting read: it ends here, as a stream reader's would.
        const waiting = waiter;
        waiter = null;
        waiting?.resolve(DONE);
      }
      return Promise.resolve();
    },
    takeRestIfEnded() {
      if (!ended || failure || cancelled) return null;
      return chunks.length === 0 ? new Uint8Array(0) : take();
    },
    async bytes() {
      // Usually the whole body came with the head: no read loop.
      return reader.takeRestIfEnded() ?? readToEnd(reader);
    },
  };

  return {
    reader,
    push(bytes) {
      if (cancelled || ended || failure || bytes.byteLength === 0) return;
      chunks.push(bytes);
      queuedBytes += bytes.byteLength;
      if (!paused && queuedBytes > PAUSE_ABOVE_BYTES && !waiter) {
        paused = true;
        flow.pause();
      }
      wake();
    },
    end() {
      if (ended || failure) return;
      ended = true;
      wake();
    },
    fail(error) {
      if (ended || failure) return;
      failure = error;
      wake();
    },
  };
}

/** Every chunk a reader has left, joined. */
export async function readToEnd(reader: Pick<BodyReader, "read">): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    parts.push(value);
  }
}
