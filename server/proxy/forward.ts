// The attempt loop: send a request to each planned target in turn until one answers, then relay that answer.
import { ProxyError, errorHeaders } from "../errors.ts";
import {
  classifyUpstreamStatus,
  isRetryable,
  pickRelayedHeaders,
  readRetryAfterMs,
  sanitizeUpstreamText,
} from "../providers/azure/response.ts";
import { toUpstreamBody, toUpstreamHeaders } from "../providers/azure/request.ts";
import type { Target } from "../routing/targets.ts";
import { countChatPromptTokens, countPromptListTokens, countTextTokens } from "../tokens/count.ts";
import type { ProxyRequest } from "./read-request.ts";
import { toRequestRecord, type FailedAttempt, type RequestRecord, type RequestSettled } from "./request-record.ts";
import { relayStream } from "./relay-stream.ts";
import { respondWithBytes } from "./respond.ts";
import { readUsageFromBody, type Usage } from "./usage.ts";

export type ForwardDeps = {
  fetch: (url: string, init: RequestInit) => Promise<Response>;
  now: () => number;
  settle: RequestSettled;
  timeoutMs: number;
  streamIdleTimeoutMs: number;
};

export type ForwardInput = {
  requestId: string;
  clientName: string | null;
  startedAt: number;
  endpoint: string;
  request: ProxyRequest;
  /** Targets in the order to try them, already cut to the attempt budget. */
  plan: readonly Target[];
  clientSignal: AbortSignal;
};

type Failure = { attempt: FailedAttempt; response?: { status: number; text: string; retryAfterMs?: number } };

export async function forward(input: ForwardInput, deps: ForwardDeps): Promise<Response> {
  const failures: Failure[] = [];
  const identity = {
    requestId: input.requestId,
    startedAt: input.startedAt,
    clientName: input.clientName,
    model: input.request.model,
    endpoint: input.endpoint,
    stream: input.request.stream,
  };
  const record = (fields: Partial<RequestRecord> & Pick<RequestRecord, "status">): void => {
    deps.settle(
      toRequestRecord(identity, deps.now(), {
        attempts: failures.length + (fields.instance ? 1 : 0),
        failedAttempts: failures.map((failure) => failure.attempt),
        ...fields,
      }),
    );
  };

  for (const target of input.plan) {
    const attemptStart = deps.now();
    const upstream = toUpstreamBody(input.request, target);
    const controller = new AbortController();
    const abortFromClient = () => controller.abort();
    input.clientSignal.addEventListener("abort", abortFromClient, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, deps.timeoutMs);
    const release = () => {
      clearTimeout(timer);
      input.clientSignal.removeEventListener("abort", abortFromClient);
    };
    const fail = (attempt: Omit<FailedAttempt, "instance" | "latencyMs">, response?: Failure["response"]) => {
      failures.push({ attempt: { instance: target.instance.name, latencyMs: deps.now() - attemptStart, ...attempt }, response });
    };

    let response: Response;
    try {
      response = await deps.fetch(target.urls[input.request.operation], {
        method: "POST",
        headers: toUpstreamHeaders(target, input.request.stream),
        body: upstream.body,
        signal: controller.signal,
        // A redirect would carry the instance's key to another host.
        redirect: "manual",
      });
    } catch {
      release();
      if (input.clientSignal.aborted) return clientGone(record);
      fail({ status: null, reason: timedOut ? "timeout" : "connection_error" });
      continue;
    }

    const outcome = classifyUpstreamStatus(response.status);
    const headers = pickRelayedHeaders(response.headers, { "x-request-id": input.requestId });
    const answeredBy = {
      instance: target.instance.name,
      deployment: target.deployment,
      upstreamRequestId: response.headers.get("apim-request-id") ?? response.headers.get("x-request-id"),
      region: response.headers.get("x-ms-region"),
    };

    if (outcome === "success" && input.request.stream && response.body) {
      clearTimeout(timer);
      let ttfbMs: number | null = null;
      const body = relayStream({
        body: response.body,
        dropUsageFrame: upstream.usageInjected,
        appendUsageFrame: upstream.usageSynthesized
          ? input.request.operation === "completions" ? "text_completion" : "chat.completion.chunk"
          : null,
        countTokens: target.streamUsage ? null : (text) => countUsage(input.request, text),
        idleTimeoutMs: deps.streamIdleTimeoutMs,
        abortUpstream: () => controller.abort(),
        onFirstByte: () => {
          ttfbMs = deps.now() - input.startedAt;
        },
        onEnd: (end) => {
          release();
          const failed = end.outcome === "upstream_failed" || end.outcome === "idle_timeout";
          record({
            status: end.outcome === "client_aborted" ? 499 : failed ? 502 : 200,
            errorCode: failed ? end.outcome : null,
            clientAborted: end.outcome === "client_aborted",
            ttfbMs,
            usage: end.usage,
            usageSource: end.usageSource,
            ...answeredBy,
          });
        },
      });
      headers["content-type"] = "text/event-stream";
      headers["cache-control"] = "no-cache";
      headers["x-accel-buffering"] = "no";
      return new Response(body, { status: 200, headers });
    }

    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch {
      release();
      if (input.clientSignal.aborted) return clientGone(record);
      fail({ status: response.status, reason: timedOut ? "timeout" : "connection_error" });
      continue;
    }
    release();

    if (outcome === "success") {
      const usage = readUsageFromBody(bytes);
      headers["content-type"] = response.headers.get("content-type") ?? "application/json";
      record({ status: response.status, ttfbMs: deps.now() - input.startedAt, usage, usageSource: usage ? "upstream" : null, ...answeredBy });
      return respondWithBytes(bytes, response.status, headers);
    }

    const text = sanitizeUpstreamText(new TextDecoder().decode(bytes), target.secrets);
    const kind = classifyUpstreamStatus(response.status, text);
    if (!isRetryable(kind)) {
      // The caller's own error (content_filter, context_length_exceeded, …): Azure's answer, once, as it was.
      record({ status: response.status, errorCode: readErrorCode(text), ...answeredBy });
      return new Response(text, { status: response.status, headers: { ...errorHeaders(response.status, input.requestId), ...headers } });
    }
    fail(
      { status: response.status, reason: kind as FailedAttempt["reason"] },
      { status: response.status, text, retryAfterMs: readRetryAfterMs(response.headers) },
    );
  }

  const error = finalError(failures);
  record({ status: error.status, errorCode: error.code });
  return error.toResponse(input.requestId);
}

/** When every attempt failed, the client hears the most useful of the failures: throttling first, since it says when to come back. */
function finalError(failures: Failure[]): ProxyError {
  const throttled = failures.filter((failure) => failure.attempt.reason === "throttled");
  if (throttled.length > 0) {
    const waits = throttled.map((failure) => failure.response?.retryAfterMs).filter((ms): ms is number => ms !== undefined);
    const retryAfterMs = waits.length > 0 ? Math.min(...waits) : 1000;
    return new ProxyError("rate_limit_exceeded", "Every instance serving this model is rate limited. Please retry later.", {
      headers: { "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))), "retry-after-ms": String(retryAfterMs) },
    });
  }
  const last = failures.at(-1);
  switch (last?.attempt.reason) {
    case "timeout":
      return new ProxyError("upstream_timeout", "The upstream did not answer in time.");
    case "instance_error":
      return new ProxyError("upstream_misconfigured", "The upstream rejected the proxy's configuration for this model (key, deployment or address).");
    case "server_error":
      return new ProxyError("upstream_bad_response", `The upstream answered with status ${last.attempt.status}.`);
    case "connection_error":
      return new ProxyError("upstream_unreachable", "The upstream could not be reached.");
    default:
      return new ProxyError("no_instance_available", "No instance is available for this model.");
  }
}

function clientGone(record: (fields: Partial<RequestRecord> & Pick<RequestRecord, "status">) => void): Response {
  record({ status: 499, errorCode: "client_closed_request", clientAborted: true });
  return new Response(null, { status: 499 });
}

function readErrorCode(text: string): string | null {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return typeof code === "string" ? code : null;
  } catch {
    return null;
  }
}

async function countUsage(request: ProxyRequest, completionText: string): Promise<Usage> {
  const prompt =
    request.operation === "chat/completions"
      ? await countChatPromptTokens(request.body.messages, request.model)
      : await countPromptListTokens(request.body.prompt, request.model);
  const completion = await countTextTokens(completionText, request.model);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
