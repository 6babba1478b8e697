// Relays an upstream SSE body frame by frame, tapping usage on the way and settling exactly once at its end or abort.
import { ProxyError } from "../errors.ts";
import { createFrameSplitter, inspectFrame, toSseFrame } from "./sse.ts";
import type { Usage } from "./usage.ts";

export type StreamEnd = {
  outcome: "completed" | "client_aborted" | "upstream_failed" | "idle_timeout";
  usage: Usage | null;
  usageSource: "upstream" | "counted" | null;
};

export type StreamRelayOptions = {
  body: ReadableStream<Uint8Array>;
  /** We asked for the usage frame on the client's behalf: drop it from what the client sees. */
  dropUsageFrame: boolean;
  /** The client asked for usage the upstream cannot send: append a frame of this `object` type with the proxy's count. */
  appendUsageFrame: "chat.completion.chunk" | "text_completion" | null;
  /** The upstream reports no usage: accumulate generated text and count it. */
  countTokens: ((completionText: string) => Promise<Usage>) | null;
  idleTimeoutMs: number;
  abortUpstream: (reason: string) => void;
  onFirstByte: () => void;
  onEnd: (end: StreamEnd) => void;
};

const encoder = new TextEncoder();

export function relayStream(options: StreamRelayOptions): ReadableStream<Uint8Array> {
  const reader = options.body.getReader();
  const decoder = new TextDecoder();
  const frames = createFrameSplitter();
  const wantText = options.countTokens !== null;
  let completionText = "";
  let usage: Usage | null = null;
  let sentFirstByte = false;
  let ended = false;
  let idleExpired = false;

  const idleTimer = setTimeout(() => {
    idleExpired = true;
    options.abortUpstream("stream idle timeout");
  }, options.idleTimeoutMs);

  const end = async (outcome: StreamEnd["outcome"]): Promise<void> => {
    if (ended) return;
    ended = true;
    clearTimeout(idleTimer);
    let usageSource: StreamEnd["usageSource"] = usage ? "upstream" : null;
    if (!usage && options.countTokens) {
      usage = await options.countTokens(completionText).catch(() => null);
      usageSource = usage ? "counted" : null;
    }
    options.onEnd({ outcome, usage, usageSource });
  };

  /** Returns the bytes to forward for this chunk, dropping the injected usage frame and noting usage. */
  const process = (chunk: Uint8Array): Uint8Array | null => {
    const alignedBefore = frames.pending === "";
    const complete = frames.push(decoder.decode(chunk, { stream: true }));
    let kept = "";
    let dropped = false;
    for (const frame of complete) {
      const info = inspectFrame(frame, wantText);
      if (info.usage) usage = info.usage;
      if (wantText) completionText += info.text;
      if (info.usageOnly && options.dropUsageFrame) {
        dropped = true;
        continue;
      }
      if (info.done && options.appendUsageFrame) {
        // Counted usage must go out before [DONE]; this frame is rebuilt after the count below.
        dropped = true;
        continue;
      }
      kept += frame;
    }
    // Common case: the chunk was exactly whole frames and nothing was dropped, so forward its bytes as they came.
    if (!dropped && alignedBefore && frames.pending === "") return chunk;
    return kept === "" ? null : encoder.encode(kept);
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) {
              if (options.appendUsageFrame) {
                await end("completed");
                if (usage) controller.enqueue(encoder.encode(toSseFrame({ object: options.appendUsageFrame, choices: [], usage })));
                controller.enqueue(encoder.encode("data: [DONE]\n\n"));
              } else {
                if (frames.pending.trim() !== "") controller.enqueue(encoder.encode(frames.pending));
                await end("completed");
              }
              controller.close();
              return;
            }
            idleTimer.refresh();
            const out = process(value);
            if (out) {
              if (!sentFirstByte) {
                sentFirstByte = true;
                options.onFirstByte();
              }
              controller.enqueue(out);
              return;
            }
          }
        } catch {
          // The upstream broke off (cut connection or our idle abort). Say so in-band: a silent close would
          // let a client mistake a truncated answer for a complete one.
          const error = idleExpired
            ? new ProxyError("upstream_timeout", "The upstream stream went silent and was stopped.")
            : new ProxyError("upstream_bad_response", "The upstream stream ended unexpectedly.");
          controller.enqueue(encoder.encode(toSseFrame(error.toJSON())));
          await end(idleExpired ? "idle_timeout" : "upstream_failed");
          controller.close();
        }
      },
      async cancel() {
        options.abortUpstream("client disconnected");
        await reader.cancel().catch(() => {});
        await end("client_aborted");
      },
    },
    { highWaterMark: 0 },
  );
}
