// What one client request amounted to, reported exactly once when it settles (feeds the access log, and stats later).
import type { Usage } from "./usage.ts";

export type FailedAttempt = {
  instance: string;
  /** Upstream HTTP status, or null when no answer came (connection error, timeout). */
  status: number | null;
  reason: "throttled" | "server_error" | "instance_error" | "timeout" | "connection_error";
  latencyMs: number;
};

export type RequestRecord = {
  requestId: string;
  startedAt: number;
  clientName: string | null;
  model: string;
  endpoint: string;
  stream: boolean;
  status: number;
  errorCode: string | null;
  /** The instance that produced the answer the client got (null when none did). */
  instance: string | null;
  deployment: string | null;
  attempts: number;
  failedAttempts: readonly FailedAttempt[];
  latencyMs: number;
  ttfbMs: number | null;
  usage: Usage | null;
  /** "upstream": Azure reported it; "counted": the proxy tokenized the whole answer; "estimated": a stream cut short, counted from what was streamed. */
  usageSource: "upstream" | "counted" | "estimated" | null;
  upstreamRequestId: string | null;
  region: string | null;
  clientAborted: boolean;
};

export type RequestSettled = (record: RequestRecord) => void;

/** What is known about a request before any upstream answered. */
export type RecordIdentity = Pick<RequestRecord, "requestId" | "startedAt" | "clientName" | "model" | "endpoint" | "stream">;

/** A complete record from what is known, with every outcome field defaulting to "nothing happened". */
export function toRequestRecord(
  identity: RecordIdentity,
  now: number,
  outcome: Partial<RequestRecord> & Pick<RequestRecord, "status">,
): RequestRecord {
  // Field by field rather than spreads: one of these is built for every request.
  return {
    requestId: identity.requestId,
    startedAt: identity.startedAt,
    clientName: identity.clientName,
    model: identity.model,
    endpoint: identity.endpoint,
    stream: identity.stream,
    status: outcome.status,
    errorCode: outcome.errorCode ?? null,
    instance: outcome.instance ?? null,
    deployment: outcome.deployment ?? null,
    attempts: outcome.attempts ?? 0,
    failedAttempts: outcome.failedAttempts ?? [],
    latencyMs: outcome.latencyMs ?? now - identity.startedAt,
    ttfbMs: outcome.ttfbMs ?? null,
    usage: outcome.usage ?? null,
    usageSource: outcome.usageSource ?? null,
    upstreamRequestId: outcome.upstreamRequestId ?? null,
    region: outcome.region ?? null,
    clientAborted: outcome.clientAborted ?? false,
  };
}
