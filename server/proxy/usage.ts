// Token usage as Azure reports it, found in a JSON body or an SSE frame without parsing more than needed.

import { asBuffer } from "../upstream/as-buffer.ts";
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, OPEN_BRACE, OPEN_BRACKET, QUOTE } from "./json-chars.ts";

export type Usage = { prompt_tokens: number; completion_tokens: number; total_tokens: number };

const decoder = new TextDecoder();
const USAGE_KEY = Buffer.from('"usage"');
const ZERO = 0x30;
const NINE = 0x39;
const COUNT_KEYS = ["prompt_tokens", "completion_tokens", "total_tokens"].map((key) => Buffer.from(key));
/** More digits than this may not be an exact integer: JSON.parse decides. */
const MAX_COUNT_DIGITS = 15;

/**
 * The last top-level `"usage":{…}` in a JSON body. Azure and OpenAI put it at or near the end: it is found from
 * the end, and its counts are read from the bytes, with JSON.parse only for a number that is not plain digits.
 */
export function readUsageFromBody(bytes: Uint8Array): Usage | null {
  const buffer = asBuffer(bytes);
  let at = buffer.lastIndexOf(USAGE_KEY);
  // A key preceded by a backslash is the word quoted inside a string.
  while (at > 0 && bytes[at - 1] === BACKSLASH) at = buffer.lastIndexOf(USAGE_KEY, at - 1);
  if (at < 0) return null;
  let open = skipSpace(bytes, at + USAGE_KEY.length);
  if (bytes[open] !== COLON) return null;
  open = skipSpace(bytes, open + 1);
  return bytes[open] === OPEN_BRACE ? readUsageObject(bytes, open) : null;
}

/** The counts of the object opening at `open`, from its own members (nested detail objects are skipped). */
function readUsageObject(bytes: Uint8Array, open: number): Usage | null {
  const counts: Array<number | undefined> = [undefined, undefined, undefined];
  let depth = 0;
  for (let i = open; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === QUOTE) {
      const end = endOfString(bytes, i);
      if (end < 0) return null;
      if (depth === 1) {
        const valueAt = skipSpace(bytes, end + 1);
        const key = bytes[valueAt] === COLON ? countKeyOf(bytes, i + 1, end) : -1;
        if (key >= 0) {
          const count = readCount(bytes, skipSpace(bytes, valueAt + 1));
          if (count === null) return parseUsageObject(bytes, open);
          counts[key] = count;
        }
      }
      i = end;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      depth++;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      if (--depth === 0) return usageOf(counts[0], counts[1], counts[2]);
    }
  }
  return null;
}

/** A plain run of digits as a count; undefined for anything else that JSON.parse would not make a count either; null when only JSON.parse can tell (a fraction or exponent, a long number). */
function readCount(bytes: Uint8Array, at: number): number | undefined | null {
  let value = 0;
  let end = at;
  for (; end < bytes.length && bytes[end]! >= ZERO && bytes[end]! <= NINE; end++) value = value * 10 + (bytes[end]! - ZERO);
  const next = bytes[end];
  if (end === at) return next === 0x2d ? null : undefined; // a string, null, true or false is no count; a negative one JSON.parse reads
  if (end - at > MAX_COUNT_DIGITS || next === 0x2e || next === 0x65 || next === 0x45) return null;
  return value;
}

function parseUsageObject(bytes: Uint8Array, open: number): Usage | null {
  const close = objectEnd(bytes, open);
  if (close < 0) return null;
  try {
    return toUsage(JSON.parse(decoder.decode(bytes.subarray(open, close + 1))));
  } catch {
    return null;
  }
}

/** Index of the brace closing the object that opens at `open`, skipping brackets inside strings. */
function objectEnd(bytes: Uint8Array, open: number): number {
  let depth = 0;
  for (let i = open; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === QUOTE) {
      i = endOfString(bytes, i);
      if (i < 0) return -1;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
    else if ((byte === CLOSE_BRACE || byte === CLOSE_BRACKET) && --depth === 0) return i;
  }
  return -1;
}

/** Index of the quote closing the string that opens at `start`, or -1 when the bytes end first. */
function endOfString(bytes: Uint8Array, start: number): number {
  for (let i = start + 1; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === BACKSLASH) i++;
    else if (byte === QUOTE) return i;
  }
  return -1;
}

/** Which of COUNT_KEYS the bytes from `start` to `end` spell, or -1. */
function countKeyOf(bytes: Uint8Array, start: number, end: number): number {
  search: for (let key = 0; key < COUNT_KEYS.length; key++) {
    const name = COUNT_KEYS[key]!;
    if (name.length !== end - start) continue;
    for (let offset = 0; offset < name.length; offset++) if (name[offset] !== bytes[start + offset]) continue search;
    return key;
  }
  return -1;
}

function skipSpace(bytes: Uint8Array, at: number): number {
  while (at < bytes.length && (bytes[at] === 0x20 || bytes[at] === 0x0a || bytes[at] === 0x0d || bytes[at] === 0x09)) at++;
  return at;
}

function usageOf(prompt: number | undefined, completion: number | undefined, total: number | undefined): Usage | null {
  if (prompt === undefined) return null;
  const completed = completion ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completed, total_tokens: total ?? prompt + completed };
}

export function toUsage(value: unknown): Usage | null {
  if (value === null || typeof value !== "object") return null;
  const fields = value as Record<string, unknown>;
  return usageOf(asCount(fields.prompt_tokens), asCount(fields.completion_tokens), asCount(fields.total_tokens));
}

function asCount(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
}
