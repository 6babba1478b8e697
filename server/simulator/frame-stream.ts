// Turns prepared SSE frames into a response body stream that can pace, pause, or cut the connection, and reports cancels.

export type FrameSchedule = {
  /** Milliseconds to wait before frame `index`; 0 sends it together with the frames before it. */
  delayBeforeMs: (index: number) => number;
  /** Sends this many frames, then resets the connection (the client sees ECONNRESET, never a clean end). */
  cutAfterFrames?: number;
  /** The client went away (disconnect or reader cancel) before the stream ended. */
  onCancel?: (reason: unknown) => void;
  /** The stream ended on its own, cleanly or by the planned cut. */
  onEnd?: () => void;
};

const encoder = new TextEncoder();

export function createFrameStream(frames: readonly string[], schedule: FrameSchedule): ReadableStream<Uint8Array> {
  const limit = Math.min(frames.length, schedule.cutAfterFrames ?? Infinity);
  let index = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let settlePull: (() => void) | undefined;
  let ended = false;

  const end = (): void => {
    ended = true;
    schedule.onEnd?.();
  };

  // Resolves the pending pull itself so a cancel never leaves a promise (and its closure) parked.
  const wait = (ms: number, then: () => void): Promise<void> =>
    new Promise<void>((resolve) => {
      settlePull = resolve;
      timer = setTimeout(() => {
        timer = undefined;
        settlePull = undefined;
        then();
        resolve();
      }, ms);
    });

  const sendReady = (controller: ReadableStreamDefaultController<Uint8Array>): void => {
    let chunk = frames[index] ?? "";
    index++;
    while (index < limit && schedule.delayBeforeMs(index) <= 0) {
      chunk += frames[index] ?? "";
      index++;
    }
    controller.enqueue(encoder.encode(chunk));
    if (index >= frames.length) {
      controller.close();
      end();
    }
  };

  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (frames.length === 0) {
        controller.close();
        end();
        return undefined;
      }
      if (index >= limit) {
        // Bun sends headers with the first chunk: erroring in the same tick would drop the frames already queued.
        // An error without a reason resets the socket without Bun logging it as an uncaught stream error.
        return wait(0, () => {
          controller.error();
          end();
        });
      }
      const delayMs = schedule.delayBeforeMs(index);
      if (delayMs > 0) return wait(delayMs, () => sendReady(controller));
      sendReady(controller);
      return undefined;
    },
    cancel(reason) {
      clearTimeout(timer);
      settlePull?.();
      if (!ended) schedule.onCancel?.(reason);
    },
  });
}
