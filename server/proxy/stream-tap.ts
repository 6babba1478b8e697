// Per-stream frame processing shared by the pre-content hold and the relay: framing, usage, text, what to drop.
// Works on bytes: most chunks are forwarded as they came, and only a frame that carries usage is ever decoded.
import { dataOf, inspectFrame } from "./sse.ts";
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

const FRAME_END = Buffer.from("\n\n");
const USAGE_NEEDLES = [Buffer.from('"usage":{'), Buffer.from('"usage": {')];
const DONE = Buffer.from("data: [DONE]");
const CARRIAGE_RETURN = 13;
const EMPTY = Buffer.alloc(0);

const decoder = new TextDecoder();

export function createStreamTap(options: StreamTapOptions) {
  let pending: Buffer = EMPTY;
  const state = {
    usage: null as Usage | null,
    completionText: "",
    /** Frames seen since content began: an estimate of tokens streamed when no usage arrives. */
    contentFrames: 0,
    sawDone: false,
    sawContent: false,
  };
  // Frames the proxy must read one by one: until content starts (the prelude decides fail-over), when text is
  // counted, when [DONE] is held back, or when the upstream frames with CRLF.
  const needsFrameByFrame = (bytes: Buffer) =>
    !state.sawContent || options.wantText || options.holdDone || bytes.indexOf(CARRIAGE_RETURN) !== -1;

  /** One frame read fully (decoded, inspected); returns whether it goes to the client. */
  const readFrame = (text: string): boolean => {
    const info = inspectFrame(text, options.wantText || !state.sawContent);
    if (info.usage) state.usage = info.usage;
    if (info.done) state.sawDone = true;
    if (options.wantText) state.completionText += info.text;
    if (!state.sawContent && (info.done || info.malformed || isContentFrame(text))) state.sawContent = true;
    if (state.sawContent && !info.done && !info.usageOnly) state.contentFrames++;
    return !((info.usageOnly && options.dropUsageFrame) || (info.done && options.holdDone));
  };

  /** Whole frames from here on need no reading except the rare one carrying usage. */
  const scanFrames = (bytes: Buffer, kept: Buffer[]): void => {
    let frames = 0;
    for (let at = bytes.indexOf(FRAME_END); at !== -1; at = bytes.indexOf(FRAME_END, at + 2)) frames++;
    let from = 0;
    for (const needle of USAGE_NEEDLES) {
      for (let at = bytes.indexOf(needle, from); at !== -1; at = bytes.indexOf(needle, at + needle.length)) {
        const start = frameStartBefore(bytes, at);
        const end = bytes.indexOf(FRAME_END, at) + 2;
        const info = inspectFrame(decoder.decode(bytes.subarray(start, end)), false);
        if (info.usage) state.usage = info.usage;
        if (info.usageOnly) frames--;
        if (info.usageOnly && options.dropUsageFrame) {
          if (start > from) kept.push(bytes.subarray(from, start));
          from = end;
        }
      }
    }
    if (bytes.indexOf(DONE) !== -1) {
      state.sawDone = true;
      frames--;
    }
    state.contentFrames += Math.max(0, frames);
    if (from < bytes.length) kept.push(from === 0 ? bytes : bytes.subarray(from));
  };

  return {
    state,
    get pendingText(): string {
      return decoder.decode(pending);
    },
    /** Returns the bytes to forward for this chunk (the chunk itself when nothing changed), or null for nothing yet. */
    process(chunk: Uint8Array): Uint8Array | null {
      const bytes = pending.length > 0 ? Buffer.concat([pending, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      const lastEnd = bytes.lastIndexOf(FRAME_END);
      if (lastEnd === -1) {
        pending = Buffer.from(bytes);
        return null;
      }
      const complete = bytes.subarray(0, lastEnd + 2);
      pending = lastEnd + 2 < bytes.length ? Buffer.from(bytes.subarray(lastEnd + 2)) : EMPTY;
      const kept: Buffer[] = [];
      let offset = 0;
      while (offset < complete.length && needsFrameByFrame(complete.subarray(offset))) {
        const end = complete.indexOf(FRAME_END, offset) + 2;
        const frame = complete.subarray(offset, end);
        if (readFrame(decoder.decode(frame))) kept.push(frame);
        offset = end;
      }
      if (offset < complete.length) scanFrames(offset === 0 ? complete : complete.subarray(offset), kept);
      if (kept.length === 1 && kept[0] === complete && pending.length === 0 && complete.length === chunk.byteLength) return chunk;
      if (kept.length === 0) return null;
      return kept.length === 1 ? kept[0]! : Buffer.concat(kept);
    },
  };
}

function frameStartBefore(bytes: Buffer, at: number): number {
  const previousEnd = bytes.lastIndexOf(FRAME_END, at);
  return previousEnd === -1 ? 0 : previousEnd + 2;
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
