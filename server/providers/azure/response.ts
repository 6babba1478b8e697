// Reads an upstream answer: what kind of outcome it is, how long to back off, and which headers the client may see.
import type { HeaderLookup } from "../../upstream/client.ts";

export type UpstreamOutcome =
  | "success"
  /** The caller's own problem (content_filter, context_length_exceeded, bad params): pass through, never retry. */
  | "caller_error"
  | "throttled"
  /** 408 or 5xx: try another instance. */
  | "server_error"
  /** Wrong key, missing deployment, a redirect: the instance is misconfigured, not the caller. */
  | "instance_error";

export function classifyUpstreamStatus(status: number, bodyText = ""): UpstreamOutcome {
  if (status >= 200 && status < 300) return "success";
  if (status === 429) return "throttled";
  if (status === 408 || status >= 500) return "server_error";
  if (status === 401 || status === 403 || status === 404 || (status >= 300 && status < 400)) return "instance_error";
  // Azure's v1 form reports a missing deployment as a 400.
  if (status === 400 && bodyText.includes("Could not find an existing deployment")) return "instance_error";
  return "caller_error";
}

export function isRetryable(outcome: UpstreamOutcome): boolean {
  return outcome === "throttled" || outcome === "server_error" || outcome === "instance_error";
}

/** Precedence from Azure's docs: retry-after-ms, then x-ms-retry-after-ms, then retry-after (seconds). */
export function readRetryAfterMs(headers: HeaderLookup): number | undefined {
  for (const [name, scale] of [
    ["retry-after-ms", 1],
    ["x-ms-retry-after-ms", 1],
    ["retry-after", 1000],
  ] as const) {
    const raw = headers.get(name);
    if (raw === null) continue;
    const value = Number(raw);
    if (Number.isFinite(value) && value >= 0) return Math.round(value * scale);
  }
  return undefined;
}

/** Headers worth relaying to the client; everything else (cookies, hop-by-hop, encodings) stays behind. */
const RELAYED_HEADERS = [
  "apim-request-id",
  "x-ms-region",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-remaining-tokens",
  "openai-processing-ms",
] as const;

/** Adds the upstream's useful headers to `into`; the proxy's own (its rate-limit headers for the client key) win. */
export function pickRelayedHeaders(upstream: HeaderLookup, into: Record<string, string>): Record<string, string> {
  for (const name of RELAYED_HEADERS) {
    const value = upstream.get(name);
    if (value !== null) into[name] ??= value;
  }
  // Our own x-request-id identifies the request in our logs; Azure's travels under its own name.
  const upstreamId = upstream.get("x-request-id");
  if (upstreamId !== null) into["x-upstream-request-id"] = upstreamId;
  return into;
}

/** Azure's error bodies pass through, minus anything that names our endpoint or key. */
export function sanitizeUpstreamText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.replaceAll(secret, "[redacted]");
  return out;
}
