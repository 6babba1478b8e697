// Measures how deeply a JSON text nests without parsing it, so a pathological body is refused before any parse or re-serialisation.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** True when some array or object opens more than `maxDepth` levels deep (brackets inside strings do not count). */
export function exceedsJsonDepth(bytes: Uint8Array, maxDepth: number): boolean {
  // Each level needs an opening byte and a closing one: a short body cannot be too deep.
  if (bytes.length <= maxDepth * 2) return false;
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte === QUOTE) {
      i = endOfString(bytes, i);
    } else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) {
      if (++depth > maxDepth) return true;
    } else if (byte === CLOSE_BRACKET || byte === CLOSE_BRACE) {
      depth--;
    }
  }
  return false;
}

/** Index of the quote closing the string opened at `start`; indexOf (native) skips the text in between. */
function endOfString(bytes: Uint8Array, start: number): number {
  let quote = bytes.indexOf(QUOTE, start + 1);
  while (quote !== -1) {
    let backslashes = 0;
    while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    // An odd run of backslashes escapes the quote; an even one escapes itself.
    if (backslashes % 2 === 0) return quote;
    quote = bytes.indexOf(QUOTE, quote + 1);
  }
  return bytes.length;
}
