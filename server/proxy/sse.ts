// SSE framing for relayed streams: split upstream text into whole frames and read what accounting needs from each.
import { toUsage, type Usage } from "./usage.ts";

const FRAME_END = /\r?\n\r?\n/g;

/** Accumulates text and hands back complete frames (each with its terminating blank line); the partial tail waits. */
export function createFrameSplitter() {
  let pending = "";
  return {
    push(text: string): string[] {
      const buffer = pending + text;
      const frames: string[] = [];
      let start = 0;
      // Scan forward once and cut the tail once: slicing the rest after every frame would copy a
      // 50-frame chunk fifty times.
      if (buffer.includes("\r")) {
        FRAME_END.lastIndex = 0;
        for (let match = FRAME_END.exec(buffer); match; match = FRAME_END.exec(buffer)) {
          const end = match.index + match[0].length;
          frames.push(buffer.slice(start, end));
          start = end;
        }
      } else {
        for (let at = buffer.indexOf("\n\n"); at !== -1; at = buffer.indexOf("\n\n", start)) {
          frames.push(buffer.slice(start, at + 2));
          start = at + 2;
        }
      }
      pending = start === 0 ? buffer : buffer.slice(start);
      return frames;
    },
    get pending(): string {
      return pending;
    },
  };
}

export type FrameInfo = {
  done: boolean;
  /** A frame whose only job is to carry usage (`choices: []` plus `usage`). */
  usageOnly: boolean;
  usage: Usage | null;
  /** Text generated in this frame (delta content or completion text), read only when asked for. */
  text: string;
  /** Set when the frame is not valid JSON (a malformed upstream frame). */
  malformed: boolean;
  /** The frame carries answer content (see isContentChunk); read only when the frame was parsed. */
  content: boolean;
};

const NOTHING: FrameInfo = { done: false, usageOnly: false, usage: null, text: "", malformed: false, content: false };
const CONTENT: FrameInfo = { ...NOTHING, content: true };

export function dataOf(frame: string): string {
  // Azure's frames are a single `data: …` line: take it without splitting.
  if (frame.startsWith("data: ")) {
    const lineEnd = frame.indexOf("\n");
    if (lineEnd === -1) return frame.slice(6);
    if (isBlankFrom(frame, lineEnd)) return frame.slice(6, frame.charCodeAt(lineEnd - 1) === CR ? lineEnd - 1 : lineEnd);
  }
  let data = "";
  for (const line of frame.split(/\r?\n/)) {
    if (line.startsWith("data:")) data += (data ? "\n" : "") + line.slice(line[5] === " " ? 6 : 5);
  }
  return data;
}

/**
 * Parses a frame's JSON only when it can matter: it carries a non-null usage, or the caller needs its text
 * (an upstream that cannot report usage). Every other frame costs a substring search.
 */
export function inspectFrame(frame: string, wantText: boolean, needContent = wantText): FrameInfo {
  const data = dataOf(frame);
  if (data === "") return NOTHING;
  if (data === "[DONE]") return { ...NOTHING, done: true };
  if (!wantText && !hasUsageValue(data)) {
    if (!needContent) return NOTHING;
    // The prelude decides fail-over frame by frame: read its answer off the text when the text settles it.
    const content = contentOfChunkWithoutUsage(data);
    if (content !== undefined) return content ? CONTENT : NOTHING;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return { ...NOTHING, malformed: true, content: true };
  }
  if (parsed === null || typeof parsed !== "object") return { ...NOTHING, content: true };
  const chunk = parsed as { choices?: unknown; usage?: unknown };
  const usage = toUsage(chunk.usage);
  const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
  return {
    done: false,
    usageOnly: usage !== null && choices.length === 0,
    usage,
    text: wantText ? choices.map(textOfChoice).join("") : "",
    malformed: false,
    content: isContentChunk(parsed),
  };
}

/**
 * Azure opens a stream with chunks that carry no answer yet: the prompt-filter chunk (empty choices) and
 * the role chunk (`delta: {role, content: ""}`). Anything else — text, tool calls, a finish reason — is content.
 */
export function isContentChunk(parsed: unknown): boolean {
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

/**
 * isContentChunk read off the text of a compact JSON chunk (no space after a colon, as Azure and OpenAI send them),
 * or undefined when only a parse can tell. A key pattern cannot match inside a string value: quotes are escaped
 * there. A chunk carrying usage is always left to the parse.
 */
export function contentOfCompactChunk(data: string): boolean | undefined {
  return hasUsageValue(data) ? undefined : contentOfChunkWithoutUsage(data);
}

function contentOfChunkWithoutUsage(data: string): boolean | undefined {
  if (data.charCodeAt(0) !== 0x7b || data.charCodeAt(data.length - 1) !== 0x7d || data.includes('": ')) return undefined;
  if (hasNonEmptyString(data, '"content":"') || hasNonEmptyString(data, '"text":"')) return true;
  if (data.includes('"tool_calls":') || data.includes('"function_call":')) return true;
  for (let at = data.indexOf(FINISH_KEY); at >= 0; at = data.indexOf(FINISH_KEY, at + FINISH_KEY.length)) {
    if (!data.startsWith("null", at + FINISH_KEY.length)) return true;
  }
  // Every way a choice carries content is ruled out above; a choices list of anything but objects needs the parse.
  return data.includes('"choices":[{') || data.includes('"choices":[]') ? false : undefined;
}

const FINISH_KEY = '"finish_reason":';

function hasNonEmptyString(data: string, keyAndQuote: string): boolean {
  for (let at = data.indexOf(keyAndQuote); at >= 0; at = data.indexOf(keyAndQuote, at + keyAndQuote.length)) {
    if (data.charCodeAt(at + keyAndQuote.length) !== 0x22) return true;
  }
  return false;
}

/** A `"usage"` key whose value is not null (every chunk of a stream with include_usage has `"usage":null`). */
function hasUsageValue(data: string): boolean {
  const at = data.indexOf('"usage"');
  if (at < 0) return false;
  let value = at + 7;
  // JSON's whitespace and the colon, without a regex: this runs on every frame before content.
  while (value < data.length && (data.charCodeAt(value) <= SPACE || data.charCodeAt(value) === COLON)) value++;
  return !data.startsWith("null", value);
}

const CR = 0x0d;
const SPACE = 0x20;
const COLON = 0x3a;

/** Whether `text` holds only whitespace from `from` on. */
function isBlankFrom(text: string, from: number): boolean {
  for (let at = from; at < text.length; at++) if (text.charCodeAt(at) > SPACE) return false;
  return true;
}

// Several legitimate Azure frames have no choices at all: never index choices[0] blindly.
function textOfChoice(choice: unknown): string {
  if (choice === null || typeof choice !== "object") return "";
  const { delta, text } = choice as { delta?: { content?: unknown }; text?: unknown };
  if (typeof text === "string") return text;
  return typeof delta?.content === "string" ? delta.content : "";
}

export function toSseFrame(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}
