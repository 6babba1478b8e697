// Measures how deeply a JSON text nests without parsing it, so a pathological body is refused before any parse or re-serialisation.

import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, OPEN_BRACE, OPEN_BRACKET, QUOTE } from "./json-chars.ts";

/**
 * True when some array or object opens more than `maxDepth` levels deep (brackets inside strings do not count).
 * Works on the decoded text, which the parse needs anyway: a string's indexOf and charCodeAt run inline, where
 * a Buffer's are calls into the runtime.
 */
export function exceedsJsonDepth(text: string, maxDepth: number): boolean {
  // Each level needs an opening character and a closing one: a short text cannot be too deep.
  if (text.length <= maxDepth * 2) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      i = endOfString(text, i);
    } else if (code === OPEN_BRACKET || code === OPEN_BRACE) {
      if (++depth > maxDepth) return true;
    } else if (code === CLOSE_BRACKET || code === CLOSE_BRACE) {
      depth--;
    }
  }
  return false;
}

/** Index of the quote closing the string opened at `start`, or the text's length when none does. */
function endOfString(text: string, start: number): number {
  let quote = text.indexOf('"', start + 1);
  while (quote !== -1) {
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    // An odd run of backslashes escapes the quote; an even one escapes itself.
    if (backslashes % 2 === 0) return quote;
    quote = text.indexOf('"', quote + 1);
  }
  return text.length;
}
