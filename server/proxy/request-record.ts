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
  failedAttempts: FailedAttempt[];
  latencyMs: number;
  ttfbMs: number | null;
  usage: Usage | null;
  /** "upstream" when Azure reported usage, "counted" when the proxy tokenized it itself. */
  usageSource: "upstream" | "counted" | null;
  upstreamRequestId: string | null;
  region: string | null;
  clientAborted: boolean;
};

export type RequestSettled = (record: RequestRecord) => void;
