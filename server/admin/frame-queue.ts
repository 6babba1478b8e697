// One event-stream subscriber's outbox: bounded, dropping the oldest frame when full, so a slow browser never grows memory.

export type FrameQueue = {
  push(frame: string): void;
  /** The next frame, or null once the queue is closed (disconnect or shutdown). */
  next(): Promise<string | null>;
  close(): void;
  readonly dropped: number;
  readonly size: number;
};

export function createFrameQueue(limit: number): FrameQueue {
  const frames: string[] = [];
  let waiting: ((frame: string | null) => void) | null = null;
  let closed = false;
  let dropped = 0;
  return {
    push(frame) {
      if (closed) return;
      if (waiting) {
        const resolve = waiting;
        waiting = null;
        resolve(frame);
        return;
      }
      frames.push(frame);
      if (frames.length > limit) {
        frames.shift();
        dropped++;
      }
    },
    next() {
      const frame = frames.shift();
      if (frame !== undefined) return Promise.resolve(frame);
      if (closed) return Promise.resolve(null);
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    close() {
      if (closed) return;
      closed = true;
      frames.length = 0;
      waiting?.(null);
      waiting = null;
    },
    get dropped() {
      return dropped;
    },
    get size() {
      return frames.length;
    },
  };
}

/** `event: <type>\ndata: <json>\n\n`; never the name `error`, which EventSource reserves for its own failures. */
export function toSseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export const HEARTBEAT_FRAME = ": heartbeat\n\n";
