// OpenAI's x-ratelimit-* response headers from a reservation's usage figures.
import { expiryOfBucket, type WindowParams, type WindowUsage } from "./window.ts";

export type RateLimitHeaders = Record<string, string>;

/** One dimension (requests or tokens): whose limit applies and what that subject holds now. */
export type HeaderDimension = { limit: number; usage: WindowUsage } | null;

/**
 * Headers describe the client key's limits; a dimension the key does not limit shows the chosen instance's
 * (then the binding one); a dimension nobody limits is left out.
 */
export function toRateLimitHeaders(
  dimensions: { requests: HeaderDimension; tokens: HeaderDimension },
  nowMs: number,
  params: WindowParams,
): RateLimitHeaders {
  const headers: RateLimitHeaders = {};
  const { requests, tokens } = dimensions;
  if (requests) {
    headers["x-ratelimit-limit-requests"] = String(requests.limit);
    headers["x-ratelimit-remaining-requests"] = String(Math.max(0, requests.limit - requests.usage.requests));
    headers["x-ratelimit-reset-requests"] = formatDuration(resetMs(requests.usage, nowMs, params));
  }
  if (tokens) {
    headers["x-ratelimit-limit-tokens"] = String(tokens.limit);
    headers["x-ratelimit-remaining-tokens"] = String(Math.max(0, tokens.limit - tokens.usage.tokens));
    headers["x-ratelimit-reset-tokens"] = formatDuration(resetMs(tokens.usage, nowMs, params));
  }
  return headers;
}

/** Time until everything now counted has left the window ("resets to its initial state", as OpenAI words it). */
function resetMs(usage: WindowUsage, nowMs: number, params: WindowParams): number {
  return usage.last < 0 ? 0 : Math.max(0, expiryOfBucket(usage.last, params) - nowMs);
}

/** Fractions of a second as OpenAI writes them: up to three digits, trailing zeros dropped. */
const FRACTIONS = Array.from({ length: 1000 }, (_, ms) => (ms === 0 ? "" : `.${String(ms).padStart(3, "0").replace(/0+$/, "")}`));

/** OpenAI's duration spelling: "850ms", "12.5s", "1m0.424s". Two of these go on every limited answer: no toFixed. */
export function formatDuration(ms: number): string {
  const whole = Math.max(0, Math.round(ms));
  if (whole < 1000) return `${whole}ms`;
  const minutes = Math.floor(whole / 60_000);
  const seconds = `${Math.floor((whole % 60_000) / 1000)}${FRACTIONS[whole % 1000]}s`;
  return minutes > 0 ? `${minutes}m${seconds}` : seconds;
}
