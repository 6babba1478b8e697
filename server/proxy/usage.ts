// Token usage as Azure reports it, found in a JSON body or an SSE frame without parsing more than needed.

export type Usage = { prompt_tokens: number; completion_tokens: number; total_tokens: number };

const decoder = new TextDecoder();
const USAGE_KEY = Buffer.from('"usage"');
const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** Azure and OpenAI put `usage` at or near the end of a body: only the bytes from its key on are decoded. */
export function readUsageFromBody(bytes: Uint8Array): Usage | null {
  const at = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).lastIndexOf(USAGE_KEY);
  if (at === -1) return null;
  // A key preceded by a backslash is the word quoted inside a string: let the text scan skip it.
  if (at === 0 || bytes[at - 1] !== BACKSLASH) {
    const fromKey = readUsageFromText(decoder.decode(bytes.subarray(at)));
    if (fromKey) return fromKey;
  }
  return readUsageFromText(decoder.decode(bytes));
}

/** Finds the last `"usage":{…}` object in JSON text; a quoted `\"usage\"` inside a string never matches. */
export function readUsageFromText(text: string): Usage | null {
  let at = text.lastIndexOf('"usage"');
  while (at > 0 && text[at - 1] === "\\") at = text.lastIndexOf('"usage"', at - 1);
  if (at < 0) return null;
  const open = text.indexOf("{", at + 7);
  if (open < 0 || text.slice(at + 7, open).trim() !== ":") return null;
  const close = findObjectEnd(text, open);
  if (close < 0) return null;
  try {
    return toUsage(JSON.parse(text.slice(open, close + 1)));
  } catch {
    return null;
  }
}

export function toUsage(value: unknown): Usage | null {
  if (value === null || typeof value !== "object") return null;
  const fields = value as Record<string, unknown>;
  const prompt = asCount(fields.prompt_tokens);
  const completion = asCount(fields.completion_tokens) ?? 0;
  if (prompt === undefined) return null;
  const total = asCount(fields.total_tokens) ?? prompt + completion;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
}

function asCount(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** Index of the brace closing the object that opens at `open`, skipping braces inside strings. */
function findObjectEnd(text: string, open: number): number {
  let depth = 0;
  let inString = false;
  // Char codes, not one-character strings: this runs over every answer's usage object.
  for (let i = open; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === BACKSLASH) i++;
      else if (code === QUOTE) inString = false;
    } else if (code === QUOTE) inString = true;
    else if (code === OPEN_BRACE) depth++;
    else if (code === CLOSE_BRACE && --depth === 0) return i;
  }
  return -1;
}
