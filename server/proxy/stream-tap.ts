// Per-stream frame processing shared by the pre-content hold and the relay: framing, usage, text, what to drop.
// Works on bytes: most chunks are forwarded as they came, and only a frame that carries usage is ever decoded.
import { asBuffer } from "../upstream/as-buffer.ts";
import { dataOf, inspectFrame, isContentChunk } from "./sse.ts";
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
const LINE_FEED = 10;
const EMPTY = Buffer.alloc(0);

const decoder = new TextDecoder();

export function createStreamTap(options: StreamTapOptions) {
  let pending: Buffer = EMPTY;
  const state = {
    usage: null as Usage | null,
    completionText: "",
    /** Frames seen since content began while no usage was known: an estimate of tokens streamed when none arrives. */
    contentFrames: 0,
    sawDone: false,
    sawContent: false,
  };
  // Frames the proxy must read one by one: until content starts (the prelude decides fail-over), when text is
  // counted, when [DONE] is held back, or when the upstream frames with CRLF (`crlf`: the chunk has a CR at all).
  const readsEveryFrame = options.wantText || options.holdDone;
  const needsFrameByFrame = (crlf: boolean) => !state.sawContent || readsEveryFrame || crlf;

  /** One frame read fully (decoded, inspected); returns whether it goes to the client. */
  const readFrame = (text: string): boolean => {
    const info = inspectFrame(text, options.wantText, !state.sawContent);
    if (info.usage) state.usage = info.usage;
    if (info.done) state.sawDone = true;
    if (options.wantText) state.completionText += info.text;
    // Before content every frame's content is read (needContent above).
    if (!state.sawContent && (info.done || info.malformed || info.content)) state.sawContent = true;
    if (state.sawContent && !info.done && !info.usageOnly) state.contentFrames++;
    return !((info.usageOnly && options.dropUsageFrame) || (info.done && options.holdDone));
  };

  /** One frame carrying usage: read it; returns whether it is a usage-only frame this tap drops. */
  const readUsageFrame = (frame: Buffer): { usageOnly: boolean; drop: boolean } => {
    const info = inspectFrame(decoder.decode(frame), false);
    if (info.usage) state.usage = info.usage;
    return { usageOnly: info.usageOnly, drop: info.usageOnly && options.dropUsageFrame };
  };

  /**
   * A chunk that ends the stream with the usage frame just before [DONE], as include_usage streams do ("an
   * additional chunk … before the data: [DONE] message"; every other chunk has "usage":null): that frame is read
   * and the rest passed on unread, where scanFrames would search the whole chunk twice. False when the chunk is
   * not shaped so. A usage-only frame an upstream sent earlier as well would then reach the client; the last
   * usage is the request's.
   */
  const endsWithUsageThenDone = (bytes: Buffer, kept: Buffer[]): boolean => {
    const done = bytes.lastIndexOf(DONE);
    if (done < 2 || bytes[done - 1] !== LINE_FEED || bytes[done - 2] !== LINE_FEED || !isBlankFrom(bytes, done + DONE.length)) return false;
    // The frame before [DONE] ends with the blank line at done - 2; the one before it ends at or before done - 3.
    const start = frameStartBefore(bytes, done - 3);
    const frame = bytes.subarray(start, done);
    if (frame.indexOf(USAGE_NEEDLES[0]!) === -1 && frame.indexOf(USAGE_NEEDLES[1]!) === -1) return false;
    const { drop } = readUsageFrame(frame);
    // No usage after all (a malformed one): the whole scan decides, and counts frames for an estimate.
    if (state.usage === null) return false;
    state.sawDone = true;
    if (!drop) kept.push(bytes);
    else {
      if (start > 0) kept.push(bytes.subarray(0, start));
      kept.push(bytes.subarray(done));
    }
    return true;
  };

  /** Whole frames from here on need no reading except the rare one carrying usage. */
  const scanFrames = (bytes: Buffer, kept: Buffer[]): void => {
    if (endsWithUsageThenDone(bytes, kept)) return;
    let usageFrames = 0;
    let from = 0;
    for (const needle of USAGE_NEEDLES) {
      for (let at = bytes.indexOf(needle, from); at !== -1; at = bytes.indexOf(needle, at + needle.length)) {
        const start = frameStartBefore(bytes, at);
        const end = bytes.indexOf(FRAME_END, at) + 2;
        const { usageOnly, drop } = readUsageFrame(bytes.subarray(start, end));
        if (usageOnly) usageFrames++;
        if (drop) {
          if (start > from) kept.push(bytes.subarray(from, start));
          from = end;
        }
      }
    }
    // [DONE] ends a stream: looking from the end finds it at once.
    const done = bytes.lastIndexOf(DONE) !== -1;
    if (done) state.sawDone = true;
    // Frames only estimate the completion of a stream cut before its usage: once usage is known they are not counted.
    if (state.usage === null) {
      let frames = 0;
      for (let at = bytes.indexOf(FRAME_END); at !== -1; at = bytes.indexOf(FRAME_END, at + 2)) frames++;
      state.contentFrames += Math.max(0, frames - usageFrames - (done ? 1 : 0));
    }
    if (from < bytes.length) kept.push(from === 0 ? bytes : bytes.subarray(from));
  };

  return {
    state,
    get pendingText(): string {
      return decoder.decode(pending);
    },
    /** Returns the bytes to forward for this chunk (the chunk itself when nothing changed), or null for nothing yet. */
    process(chunk: Uint8Array): Uint8Array | null {
      const bytes = pending.length > 0 ? Buffer.concat([pending, chunk]) : asBuffer(chunk);
      const lastEnd = bytes.lastIndexOf(FRAME_END);
      if (lastEnd === -1) {
        pending = Buffer.from(bytes);
        return null;
      }
      const complete = bytes.subarray(0, lastEnd + 2);
      pending = lastEnd + 2 < bytes.length ? Buffer.from(bytes.subarray(lastEnd + 2)) : EMPTY;
      const kept: Buffer[] = [];
      let offset = 0;
      const crlf = complete.indexOf(CARRIAGE_RETURN) !== -1;
      // A whole stream that ends with its usage frame has content (read frame by frame, that frame would count as
      // content at the latest): its prelude needs no reading to decide fail-over.
      if (!state.sawContent && !crlf && !readsEveryFrame && endsWithUsageThenDone(complete, kept)) {
        state.sawContent = true;
        offset = complete.length;
      }
      while (offset < complete.length && needsFrameByFrame(crlf)) {
        const end = complete.indexOf(FRAME_END, offset) + 2;
        const frame = complete.subarray(offset, end);
        if (readFrame(decoder.decode(frame))) kept.push(frame);
        offset = end;
      }
      if (offset < complete.length) scanFrames(offset === 0 ? complete : complete.subarray(offset), kept);
      if (kept.length === 1 && kept[0] === complete && pending.length === 0 && complete.length === chunk.byteLength) return chunk;
      if (kept.length === 0) return null;
      return kept.length === 1 ? kept[0]! : compactInPlace(complete, kept);
    },
  };
}

/**
 * Joins the kept parts of `complete` (its own subarrays, in order) by moving them together inside it: a
 * dropped usage frame is cut out by moving the few bytes after it, where a concat would copy the whole
 * chunk into a new buffer. `complete` is this tap's to change (a chunk read for it, or its own concat).
 */
function compactInPlace(complete: Buffer, kept: readonly Buffer[]): Buffer {
  const first = kept[0]!.byteOffset - complete.byteOffset;
  let write = first;
  for (const part of kept) {
    const start = part.byteOffset - complete.byteOffset;
    if (start !== write) complete.copyWithin(write, start, start + part.length);
    write += part.length;
  }
  return complete.subarray(first, write);
}

/** Whether only whitespace follows `from`. */
function isBlankFrom(bytes: Buffer, from: number): boolean {
  for (let at = from; at < bytes.length; at++) if (bytes[at]! > 0x20) return false;
  return true;
}

function frameStartBefore(bytes: Buffer, at: number): number {
  const previousEnd = bytes.lastIndexOf(FRAME_END, at);
  return previousEnd === -1 ? 0 : previousEnd + 2;
}

/** Whether one frame carries answer content (Azure's prelude frames do not); unparsable data counts as content. */
export function isContentFrame(frame: string): boolean {
  const data = dataOf(frame);
  if (data === "") return false;
  try {
    return isContentChunk(JSON.parse(data));
  } catch {
    return true;
  }
}
