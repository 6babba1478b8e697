// Builds the upstream request body and headers for one target: original bytes when nothing must change.
import type { ProxyRequest } from "../../proxy/read-request.ts";
import type { Target } from "../../routing/targets.ts";

export type UpstreamBody = {
  body: Uint8Array | string;
  /** We added include_usage for our own accounting; the client did not ask for the usage frame. */
  usageInjected: boolean;
  /** The client asked for usage but this upstream cannot send it: the proxy counts and appends it. */
  usageSynthesized: boolean;
};

export function toUpstreamBody(request: ProxyRequest, target: Target): UpstreamBody {
  const rewriteModel = target.modelInBody && request.body.model !== target.deployment;
  const usageInjected = request.stream && !request.clientWantsUsage && target.streamUsage;
  const usageSynthesized = request.stream && request.clientWantsUsage && !target.streamUsage;
  if (!rewriteModel && !usageInjected && !usageSynthesized) {
    return { body: request.bytes, usageInjected, usageSynthesized };
  }
  if (usageInjected && !rewriteModel && request.body.stream_options === undefined) {
    const spliced = withIncludeUsage(request.bytes);
    if (spliced) return { body: spliced, usageInjected, usageSynthesized };
  }
  const body: Record<string, unknown> = { ...request.body };
  if (rewriteModel) body.model = target.deployment;
  if (usageInjected) body.stream_options = { ...asObject(body.stream_options), include_usage: true };
  // Older api-versions answer 400 to stream_options at all.
  if (usageSynthesized) delete body.stream_options;
  return { body: JSON.stringify(body), usageInjected, usageSynthesized };
}

/** Only what the upstream needs: the client's own credentials and headers never travel on. */
export function toUpstreamHeaders(authHeader: readonly [string, string], stream: boolean): Readonly<Record<string, string>> {
  return Object.freeze({
    "content-type": "application/json",
    accept: stream ? "text/event-stream" : "application/json",
    [authHeader[0]]: authHeader[1],
  });
}

const INCLUDE_USAGE_MEMBER = Buffer.from(',"stream_options":{"include_usage":true}}');
const CLOSING_BRACE = 0x7d;

/**
 * The body with include_usage added as its last member, by splicing the bytes rather than re-serialising the
 * whole request. Only for an object that has no stream_options and at least one member (a stream request has
 * `stream`); null when the bytes do not end the way a JSON object does.
 */
export function withIncludeUsage(bytes: Uint8Array): Uint8Array | null {
  let end = bytes.length - 1;
  // JSON's own whitespace may follow the closing brace.
  while (end >= 0 && (bytes[end] === 0x20 || bytes[end] === 0x0a || bytes[end] === 0x0d || bytes[end] === 0x09)) end--;
  if (end < 0 || bytes[end] !== CLOSING_BRACE) return null;
  return Buffer.concat([bytes.subarray(0, end), INCLUDE_USAGE_MEMBER]);
}

function asObject(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
