// Keeps token counting linear and bounded: long strings are counted in pieces, and one request counts exactly only so much.
import type { CountTokens } from "./count.ts";

/**
 * BPE merging inside one pre-token costs quadratic time, and a run of letters without a space is one pre-token:
 * 300,000 such characters took minutes counted whole, milliseconds in pieces of this size.
 */
export const MAX_PIECE_CHARS = 1024;
/** How far back from a piece's end to look for a space to cut at. */
const CUT_SEARCH_CHARS = 128;

export function countInPieces(text: string, count: CountTokens, maxChars = MAX_PIECE_CHARS): number {
  if (text.length <= maxChars) return count(text);
  let total = 0;
  let start = 0;
  while (start < text.length) {
    let end = Math.min(start + maxChars, text.length);
    // Cut just before a space when one is near: a space starts the next pre-token, so ordinary text counts as it would whole.
    if (end < text.length) {
      for (let i = end; i > end - CUT_SEARCH_CHARS; i--) {
        if (text.charCodeAt(i) === 0x20) {
          end = i;
          break;
        }
      }
    }
    total += count(text.slice(start, end));
    start = end;
  }
  return total;
}

/**
 * Counts exactly until `budgetChars` characters have been counted, then extrapolates at the tokens-per-character rate
 * seen so far: a limit check on a megabytes-long prompt stays in milliseconds, and usage reconciles the difference.
 */
export function countWithinBudget(count: CountTokens, budgetChars: number): CountTokens {
  let countedChars = 0;
  let countedTokens = 0;
  return (text) => {
    const room = Math.max(0, budgetChars - countedChars);
    const exactChars = Math.min(room, text.length);
    let tokens = 0;
    if (exactChars > 0) {
      tokens = count(exactChars === text.length ? text : text.slice(0, exactChars));
      countedChars += exactChars;
      countedTokens += tokens;
    }
    const rest = text.length - exactChars;
    if (rest === 0) return tokens;
    // With nothing counted yet, one token per character is the safe side.
    const rate = countedChars > 0 ? countedTokens / countedChars : 1;
    // Fractional on purpose: rounding each of many short strings up would inflate the sum; the caller rounds the total.
    return tokens + rest * rate;
  };
}
