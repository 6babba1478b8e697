// Per-stream frame processing shared by the pre-content hold and the relay: framing, usage, text, what to drop.
import { createFrameSplitter, dataOf, inspectFrame } from "./sse.ts";
import type { Usage } from "./usage.ts";

export type StreamTapOptions = {
  /** We asked for the usage frame on the client's behalf: drop it from what the client sees. */
  dropUsageFrame: boolean;
  /** Hold [DONE] back so a counted usage frame can go out before it. */
  holdDone: boolean;
  /** Accumulate generated text (for counting tokens when the upstream reports no usage). */
  wantText: boolean;
};

export type StreamTap = ReturnType<typeof createStreamTap>;

const encoder = new TextEncoder();

export function createStreamTap(options: StreamTapOptions) {
  const decoder = new TextDecoder();
  const frames = createFrameSplitter();
  const state = {
    usage: null as Usage | null,
    completionText: "",
    /** Frames seen since content began: an estimate of tokens streamed when no usage arrives. */
    contentFrames: 0,
    sawDone: false,
    sawContent: false,
  };

  return {
    state,
    get pendingText(): string {
      return frames.pending;
    },
    /**
     * Returns the bytes to forward for this chunk (the chunk itself when nothing changed, to avoid re-encoding),
     * or null when nothing of it should go out yet.
     */
    process(chunk: Uint8Array): Uint8Array | null {
      const alignedBefore = frames.pending === "";
      const complete = frames.push(decoder.decode(chunk, { stream: true }));
      let kept = "";
      let dropped = false;
      for (const frame of complete) {
        const info = inspectFrame(frame, options.wantText || !state.sawContent);
        if (info.usage) state.usage = info.usage;
        if (info.done) state.sawDone = true;
        if (options.wantText) state.completionText += info.text;
        if (!state.sawContent && (info.done || info.malformed || isContentFrame(frame))) state.sawContent = true;
        // Azure streams about one token per content frame: the estimate for a stream cut before its usage frame.
        if (state.sawContent && !info.done && !info.usageOnly) state.contentFrames++;
        if ((info.usageOnly && options.dropUsageFrame) || (info.done && options.holdDone)) {
          dropped = true;
          continue;
        }
        kept += frame;
      }
      if (!dropped && alignedBefore && frames.pending === "") return chunk;
      return kept === "" ? null : encoder.encode(kept);
    },
  };
}

/**
 * Azure opens a stream with frames that carry no answer yet: the prompt-filter frame (empty choices) and
 * the role frame (`delta: {role, content: ""}`). Anything else — text, tool calls, a finish reason — is content.
 */
export function isContentFrame(frame: string): boolean {
  const data = dataOf(frame);
  if (data === "") return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return true;
  }
  if (parsed === null || typeof parsed !== "object") return true;
  const { choices, usage } = parsed as { choices?: unknown; usage?: unknown };
  if (!Array.isArray(choices) || choices.length === 0) return usage !== undefined && usage !== null;
  return choices.some((choice: unknown) => {
    if (choice === null || typeof choice !== "object") return true;
    const { delta, text, finish_reason } = choice as { delta?: Record<string, unknown>; text?: unknown; finish_reason?: unknown };
    if (finish_reason !== null && finish_reason !== undefined) return true;
    if (typeof text === "string") return text !== "";
    if (!delta) return false;
    return (typeof delta.content === "string" && delta.content !== "") || delta.tool_calls !== undefined || delta.function_call !== undefined;
  });
}
