// What the proxy needs from an HTTP client to call an upstream: one POST, its status, headers and body, and abort.
import type { BodyReader } from "./body-queue.ts";

export type HeaderLookup = { get(name: string): string | null };

export type UpstreamRequest = {
  url: string;
  headers: Readonly<Record<string, string>>;
  body: Uint8Array | string;
};

export type UpstreamResponse = {
  status: number;
  headers: HeaderLookup;
  body: BodyReader;
};

export type UpstreamCall = {
  /** Rejects when no answer could be had (connection refused or cut, or aborted before the head). */
  response: Promise<UpstreamResponse>;
  /** Gives up on the call: a pending response rejects, a body being read fails, the connection is dropped. */
  abort(): void;
};

export type UpstreamClient = {
  post(request: UpstreamRequest): UpstreamCall;
  /** Closes idle connections and stops the client's timers. */
  close(): void;
};

/** The call was given up by abort(). */
export class UpstreamAbortError extends Error {
  override name = "AbortError";
}
