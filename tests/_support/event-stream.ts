// Reads /admin/events as a browser's EventSource would: frames split on blank lines, comments kept apart.

export type StreamFrame = { event: string; data: unknown } | { comment: string };

export type EventStreamReader = AsyncDisposable & {
  status: number;
  headers: Headers;
  /** The next frame; rejects when none arrives within `timeoutMs`. */
  next(timeoutMs?: number): Promise<StreamFrame>;
  /** Skips frames until one with this event name arrives. */
  nextEvent(event: string, timeoutMs?: number, accept?: (data: unknown) => boolean): Promise<unknown>;
  close(): void;
};

export async function openEventStream(url: string, headers: Record<string, string>): Promise<EventStreamReader> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const pending: StreamFrame[] = [];
  // One read at a time: a read abandoned by a timeout is picked up again by the next call, so no chunk is lost.
  let reading: ReturnType<typeof reader.read> | null = null;

  const parse = (block: string): StreamFrame => {
    if (block.startsWith(":")) return { comment: block.slice(1).trim() };
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    return { event, data: JSON.parse(data.join("\n")) };
  };

  const next = async (timeoutMs = 3000): Promise<StreamFrame> => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const ready = pending.shift();
      if (ready) return ready;
      const boundary = buffer.indexOf("\n\n");
      if (boundary >= 0) {
        pending.push(parse(buffer.slice(0, boundary)));
        buffer = buffer.slice(boundary + 2);
        continue;
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error("no event-stream frame in time");
      let timer: ReturnType<typeof setTimeout> | undefined;
      reading ??= reader.read();
      const chunk = await Promise.race([
        reading,
        new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), left);
        }),
      ]);
      clearTimeout(timer);
      if (chunk === "timeout") throw new Error("no event-stream frame in time");
      reading = null;
      if (chunk.done) throw new Error("event stream ended");
      buffer += decoder.decode(chunk.value, { stream: true });
    }
  };

  const close = () => controller.abort();
  return {
    status: response.status,
    headers: response.headers,
    next,
    async nextEvent(event, timeoutMs = 3000, accept = () => true) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const frame = await next(Math.max(1, deadline - performance.now()));
        if ("event" in frame && frame.event === event && accept(frame.data)) return frame.data;
      }
    },
    close,
    async [Symbol.asyncDispose]() {
      close();
    },
  };
}
