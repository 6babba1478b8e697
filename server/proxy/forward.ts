// The attempt loop: try planned instances (then fallback models) until one answers, feeding health and load as it goes.
import { ProxyError, errorHeaders } from "../errors.ts";
import type { HealthRegistry } from "../health/registry.ts";
import type { LimitedClient, Limiter, Reservation } from "../limiter/limiter.ts";
import type { TokenEstimate } from "../limiter/estimate.ts";
import { classifyUpstreamStatus, pickRelayedHeaders, readRetryAfterMs, sanitizeUpstreamText } from "../providers/azure/response.ts";
import { toUpstreamBody } from "../providers/azure/request.ts";
import type { LoadTracker } from "../routing/load.ts";
import { isOnlyThrottled, pickLastResort, soonestRecovery, type Plan } from "../routing/plan.ts";
import type { RetryBudget } from "../routing/retry-budget.ts";
import type { Router } from "../routing/router.ts";
import type { Target } from "../routing/targets.ts";
import type { UpstreamClient, UpstreamResponse } from "../upstream/client.ts";
import { countChatPromptTokens, countPromptListTokens, countTextTokens } from "../tokens/count.ts";
import type { ProxyRequest } from "./read-request.ts";
import type { AttemptWatch } from "./attempt-watch.ts";
import { awaitFirstContent, firstContentIn, relayEndedNow, relayStream, type StreamRelayOptions } from "./relay-stream.ts";
import { toRequestRecord, type FailedAttempt, type RequestRecord, type RequestSettled } from "./request-record.ts";
import { respondWithBytes } from "./respond.ts";
import { createStreamTap } from "./stream-tap.ts";
import { readUsageFromBody, type Usage } from "./usage.ts";

export type ForwardDeps = {
  upstream: UpstreamClient;
  now: () => number;
  settle: RequestSettled;
  router: Router;
  health: HealthRegistry;
  load: LoadTracker;
  retryBudget: RetryBudget;
  limiter: Limiter;
  maxAttempts: number;
  timeoutMs: number;
  firstTokenTimeoutMs: number;
  streamIdleTimeoutMs: number;
  /** Aborts at a graceful shutdown's drain deadline (see lifecycle.ts). */
  stopSignal?: AbortSignal;
  /** Gives up calls whose client left, whose deadline passed, or that the stop signal ends. */
  watch: AttemptWatch;
};

export type ForwardInput = {
  requestId: string;
  /** Security and CORS headers every answer to this request carries. */
  answerHeaders: Readonly<Record<string, string>>;
  clientName: string | null;
  startedAt: number;
  endpoint: string;
  request: ProxyRequest;
  clientSignal: AbortSignal;
  /** Has the client's connection closed soon: used when it stops reading a stream. */
  closeClient?: () => void;
  /** The caller's key, for its own rpm/tpm limits (null when client auth is off). */
  client: LimitedClient | null;
  estimate: TokenEstimate;
};

type Failure = FailedAttempt & { retryAfterMs?: number };

// Records wait up to a second for the statistics writer: what they share (no failures, a region's name) is one
// long-lived value instead of a fresh one per request for the collector to promote and trace.
const NO_FAILURES: readonly FailedAttempt[] = Object.freeze([]);
const regions = new Map<string, string>();
const MAX_REGIONS = 64;

function internRegion(region: string | null): string | null {
  if (region === null) return null;
  const known = regions.get(region);
  if (known !== undefined) return known;
  if (regions.size < MAX_REGIONS) regions.set(region, region);
  return region;
}

type Outcome = Partial<RequestRecord> & Pick<RequestRecord, "status">;

type AttemptResult =
  | { kind: "answer"; response: Response }
  | { kind: "failed"; failure: Failure }
  | { kind: "context_too_long"; response: Response; status: number }
  | { kind: "client_gone" }
  /** A graceful shutdown's drain deadline passed before the answer started. */
  | { kind: "stopped" };

export async function forward(input: ForwardInput, deps: ForwardDeps): Promise<Response> {
  const { router, retryBudget } = deps;
  const failures: Failure[] = [];
  const blockedSeen: Plan["blocked"] = [];
  let attempts = 0;
  let lastResortFailed = false;
  let settled = false;
  retryBudget.requestStarted();

  const settle = (request: ProxyRequest, outcome: Outcome) => {
    if (settled) return;
    settled = true;
    retryBudget.requestFinished();
    const identity = {
      requestId: input.requestId,
      startedAt: input.startedAt,
      clientName: input.clientName,
      model: request.model,
      endpoint: input.endpoint,
      stream: request.stream,
    };
    const record = toRequestRecord(identity, deps.now(), outcome);
    record.attempts = outcome.attempts ?? attempts;
    record.failedAttempts = outcome.failedAttempts ?? (failures.length === 0 ? NO_FAILURES : failures.map(({ retryAfterMs: _, ...attempt }) => attempt));
    deps.settle(record);
  };

  let rateHeaders: Record<string, string> = {};
  const errorResponse = (error: ProxyError) => error.toResponse(input.requestId, { ...input.answerHeaders, ...rateHeaders });
  const models = [input.request.model];
  let fallbacksQueued = false;
  let pendingContextError: { response: Response; status: number } | null = null;

  for (let m = 0; m < models.length; m++) {
    const request: ProxyRequest = m === 0 ? input.request : { ...input.request, model: models[m]! };
    const tried = new Set<string>();
    let lastResortUsed = false;
    let contextTooLong = false;
    while (attempts < deps.maxAttempts) {
      const plan = router.plan(request.model, tried, input.estimate.totalTokens);
      let candidates = plan.candidates;
      let viaLastResort = false;
      if (candidates.length === 0) {
        blockedSeen.push(...plan.blocked);
        const lastResort = lastResortUsed || isOnlyThrottled(plan.blocked) ? null : pickLastResort(plan.blocked, router.lastFailureAt);
        if (!lastResort) break;
        lastResortUsed = true;
        viaLastResort = true;
        candidates = [lastResort];
      }
      const isRetry = attempts > 0;
      if (isRetry && !retryBudget.tryStartRetry()) {
        const error = finalError(failures, blockedSeen, deps.now(), "The proxy's retry budget is spent: too many requests are being retried at once.");
        settle(request, { status: error.status, errorCode: error.code });
        return errorResponse(error);
      }
      // One limiter round trip charges the client key and the first candidate with room, together or not at all.
      const reserving = deps.limiter.reserve({
        instances: candidates.map((candidate) => candidate.instance),
        client: input.client,
        tokens: input.estimate.totalTokens,
      });
      // Nothing limits most requests: the answer is then at hand, and awaiting it would cost a microtask turn.
      const reserved = reserving instanceof Promise ? await reserving : reserving;
      rateHeaders = reserved.headers;
      if (!reserved.ok) {
        if (isRetry) retryBudget.retryFinished();
        if (reserved.scope === "client" || reserved.reason !== "rate_limited") {
          const error = limiterError(reserved.reason, reserved.retryAfterMs, input.client?.name ?? null);
          settle(request, { status: error.status, errorCode: error.code });
          return errorResponse(error);
        }
        // No candidate has room in the proxy's own window: they wait like throttled instances.
        const until = deps.now() + reserved.retryAfterMs;
        for (const candidate of candidates) {
          tried.add(candidate.instance.name);
          blockedSeen.push({ target: candidate, reason: "no_headroom", until });
        }
        continue;
      }
      const target = candidates[reserved.chosen]!;
      const probe = viaLastResort || plan.probes.has(target.instance.name);
      tried.add(target.instance.name);
      attempts++;
      const answerHeaders = { ...input.answerHeaders, ...rateHeaders, "x-request-id": input.requestId };
      const result = await attemptTarget(target, probe, reserved.reservation, request, input, answerHeaders, deps, (outcome) => settle(request, outcome));
      if (isRetry) retryBudget.retryFinished();
      switch (result.kind) {
        case "answer":
          return result.response;
        case "client_gone":
          settle(request, { status: 499, errorCode: "client_closed_request", clientAborted: true });
          return new Response(null, { status: 499 });
        case "stopped": {
          const error = new ProxyError("server_shutting_down", "The proxy is shutting down and stopped this request before an answer arrived.");
          settle(request, { status: error.status, errorCode: error.code });
          return errorResponse(error);
        }
        case "context_too_long":
          pendingContextError = { response: result.response, status: result.status };
          contextTooLong = true;
          break;
        case "failed":
          failures.push(result.failure);
          if (lastResortUsed && plan.candidates.length === 0) lastResortFailed = true;
          continue;
      }
      if (contextTooLong) break;
    }
    if (contextTooLong) {
      // A longer-context model may take what this one could not; nothing else in this model's queue can.
      models.splice(m + 1, models.length, ...router.contextFallbacksFor(request.model));
      continue;
    }
    if (!fallbacksQueued) {
      fallbacksQueued = true;
      models.push(...router.fallbacksFor(input.request.model).filter((model) => !models.includes(model)));
    }
  }

  if (pendingContextError && failures.length === 0) {
    settle(input.request, { status: pendingContextError.status, errorCode: "context_length_exceeded" });
    for (const [name, value] of Object.entries(rateHeaders)) pendingContextError.response.headers.set(name, value);
    return pendingContextError.response;
  }
  const error = lastResortFailed
    ? unavailable(blockedSeen, deps.now())
    : finalError(failures, blockedSeen, deps.now());
  settle(input.request, { status: error.status, errorCode: error.code });
  return errorResponse(error);
}

/** The limiter refused the caller's own key (or, with redis.on_failure: closed, could not be asked). */
function limiterError(reason: "rate_limited" | "too_large" | "unavailable", retryAfterMs: number, client: string | null): ProxyError {
  const retry = { "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))), "retry-after-ms": String(Math.max(1, retryAfterMs)) };
  switch (reason) {
    case "rate_limited":
      return new ProxyError("rate_limit_exceeded", `Rate limit reached for key '${client}'. Please retry after ${Math.ceil(retryAfterMs / 1000)} s.`, { headers: retry });
    case "too_large":
      return new ProxyError("tokens_exceed_limit", "This request needs more tokens than its limit allows in a minute.");
    case "unavailable":
      return new ProxyError("no_instance_available", "The rate limiter is unavailable, so the proxy refuses requests for now.", { headers: retry });
  }
}

/** Every instance is down and the last-resort probe failed too: 503, with when the first circuit may close. */
function unavailable(blocked: Plan["blocked"], now: number): ProxyError {
  const retryAfterMs = Math.max(1000, soonestRecovery(blocked, now) - now);
  return new ProxyError("no_instance_available", "No instance serving this model is healthy right now.", {
    headers: { "retry-after": String(Math.ceil(retryAfterMs / 1000)), "retry-after-ms": String(retryAfterMs) },
  });
}

async function attemptTarget(
  target: Target,
  probe: boolean,
  reservation: Reservation,
  request: ProxyRequest,
  input: ForwardInput,
  /** What the answer carries besides the upstream's relayed headers: our id, security, CORS and rate-limit headers. */
  answerHeaders: Record<string, string>,
  deps: ForwardDeps,
  settle: (outcome: Outcome) => void,
): Promise<AttemptResult> {
  const name = target.instance.name;
  const attemptStart = deps.now();
  if (probe) deps.health.takeProbe(name);
  deps.load.started(name);
  const upstream = toUpstreamBody(request, target);
  const call = deps.upstream.post({
    url: target.urls[request.operation],
    headers: request.stream ? target.upstreamHeaders.stream : target.upstreamHeaders.json,
    body: upstream.body,
  });
  const abortCall = () => call.abort();
  let timedOut = false;
  // A client gone already, or a retry that starts after the drain deadline, stops at once.
  const watched = deps.watch.watch(input.clientSignal, attemptStart + deps.timeoutMs, (reason) => {
    if (reason === "timeout") timedOut = true;
    call.abort();
  });
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    watched.release();
    deps.load.finished(name);
  };
  const failed = (reason: FailedAttempt["reason"], status: number | null, detail: string, retryAfterMs?: number): AttemptResult => {
    finish();
    // The upstream did no work for us: give the tokens and the request back.
    deps.limiter.refund(reservation);
    if (reason === "throttled") deps.health.record(name, { type: "throttled", retryAfterMs });
    else if (reason === "instance_error") deps.health.record(name, { type: "misconfigured", detail });
    else deps.health.record(name, { type: "failure", reason, detail });
    return { kind: "failed", failure: { instance: name, status, reason, latencyMs: deps.now() - attemptStart, retryAfterMs } };
  };

  const abandon = (): AttemptResult => {
    finish();
    // Azure has the prompt and may be generating: charge what it has certainly counted.
    deps.limiter.reconcile(reservation, input.estimate.promptTokens);
    return { kind: input.clientSignal.aborted ? "client_gone" : "stopped" };
  };
  /** The attempt was aborted by the client or by the drain deadline rather than failing. */
  const isAbandoned = () => input.clientSignal.aborted || deps.stopSignal?.aborted === true;

  let response: UpstreamResponse;
  try {
    response = await call.response;
  } catch {
    if (isAbandoned()) return abandon();
    return timedOut
      ? failed("timeout", null, `no answer within ${deps.timeoutMs} ms`)
      : failed("connection_error", null, "connection failed");
  }

  deps.load.observeRemaining(name, response.headers);
  const outcome = classifyUpstreamStatus(response.status);
  const headers = pickRelayedHeaders(response.headers, answerHeaders);
  const answeredBy = {
    instance: name,
    deployment: target.deployment,
    upstreamRequestId: response.headers.get("apim-request-id") ?? response.headers.get("x-request-id"),
    region: internRegion(response.headers.get("x-ms-region")),
  };

  if (outcome === "success" && request.stream) {
    // The head's deadline is met; the first content has its own.
    watched.setDeadline(deps.now() + deps.firstTokenTimeoutMs);
    const tap = createStreamTap({
      dropUsageFrame: upstream.usageInjected,
      holdDone: upstream.usageSynthesized,
      wantText: !target.streamUsage,
    });
    const reader = response.body;
    // Most answers have arrived whole by the time their head is read: then no promise is needed to relay them.
    const whole = reader.takeRestIfEnded();
    const first = whole ? firstContentIn(whole, tap) : await awaitFirstContent(reader, tap);
    if (!first.ok) {
      void reader.cancel().catch(() => {});
      if (isAbandoned()) return abandon();
      return timedOut
        ? failed("timeout", 200, `no content within ${deps.firstTokenTimeoutMs} ms`)
        : failed("server_error", 200, "stream ended before any content");
    }
    // Content flows: from here a stream's own idle timer, its cancel and the stop signal watch it (relayStream).
    watched.release();
    deps.health.record(name, { type: "success" });
    deps.load.observeLatency(name, deps.now() - attemptStart);
    const ttfbMs = deps.now() - input.startedAt;
    const relay: StreamRelayOptions = {
      reader,
      tap,
      held: first.held,
      appendUsageFrame: upstream.usageSynthesized ? (request.operation === "completions" ? "text_completion" : "chat.completion.chunk") : null,
      countUsage: (text, frames) => countUsage(request, text, target.streamUsage ? frames : null),
      countedExactly: !target.streamUsage,
      idleTimeoutMs: deps.streamIdleTimeoutMs,
      stopSignal: deps.stopSignal,
      closeClient: input.closeClient,
      abortUpstream: abortCall,
      onEnd: (end) => {
        finish();
        deps.limiter.reconcile(reservation, end.usage?.total_tokens ?? input.estimate.promptTokens);
        const failedMidStream = end.outcome === "upstream_failed" || end.outcome === "idle_timeout";
        const stopped = end.outcome === "shutdown";
        const clientLeft = end.outcome === "client_aborted" || end.outcome === "client_stalled";
        // A cut connection is the instance's fault; a long silence may just be a slow generation.
        if (end.outcome === "upstream_failed") deps.health.record(name, { type: "failure", reason: "server_error", detail: "stream cut" });
        settle({
          status: clientLeft ? 499 : failedMidStream ? 502 : stopped ? 503 : 200,
          errorCode: failedMidStream || end.outcome === "client_stalled" ? end.outcome : stopped ? "server_shutting_down" : null,
          clientAborted: clientLeft,
          ttfbMs,
          usage: end.usage,
          usageSource: end.usageSource,
          ...answeredBy,
        });
      },
    };
    const body = (whole && relayEndedNow(relay)) ?? (await relayStream(relay));
    headers["content-type"] = "text/event-stream";
    headers["cache-control"] = "no-cache";
    headers["x-accel-buffering"] = "no";
    // An upstream that had already finished is answered in one piece, as a buffered body is.
    const answer = body instanceof Uint8Array ? respondWithBytes(body, 200, headers) : new Response(body, { status: 200, headers });
    return { kind: "answer", response: answer };
  }

  let bytes: Uint8Array;
  try {
    // Usually the whole body came with the head: then it is at hand, with no promise to wait on.
    bytes = response.body.takeRestIfEnded() ?? (await response.body.bytes());
  } catch {
    if (isAbandoned()) return abandon();
    return timedOut ? failed("timeout", response.status, "body not complete in time") : failed("connection_error", response.status, "body cut");
  }
  finish();

  if (outcome === "success") {
    deps.health.record(name, { type: "success" });
    deps.load.observeLatency(name, deps.now() - attemptStart);
    const usage = readUsageFromBody(bytes);
    deps.limiter.reconcile(reservation, usage?.total_tokens ?? input.estimate.totalTokens);
    headers["content-type"] = response.headers.get("content-type") ?? "application/json";
    settle({ status: response.status, ttfbMs: deps.now() - input.startedAt, usage, usageSource: usage ? "upstream" : null, ...answeredBy });
    return { kind: "answer", response: respondWithBytes(bytes, response.status, headers) };
  }

  const text = sanitizeUpstreamText(new TextDecoder().decode(bytes), target.secrets);
  const kind = classifyUpstreamStatus(response.status, text);
  if (kind === "caller_error") {
    // The caller's own error (content_filter, context_length_exceeded, …): Azure's answer as it was, and the
    // instance's health is untouched.
    const code = readErrorCode(text);
    // Azure refused before generating: the request counts, its tokens do not.
    deps.limiter.reconcile(reservation, 0);
    const passthrough = new Response(text, { status: response.status, headers: { ...errorHeaders(response.status, input.requestId), ...headers } });
    if (code === "context_length_exceeded" && deps.router.contextFallbacksFor(request.model).length > 0) {
      return { kind: "context_too_long", response: passthrough, status: response.status };
    }
    settle({ status: response.status, errorCode: code, ...answeredBy });
    return { kind: "answer", response: passthrough };
  }
  const detail = `upstream answered ${response.status}${readErrorCode(text) ? ` (${readErrorCode(text)})` : ""}`;
  return failed(kind === "throttled" ? "throttled" : kind === "instance_error" ? "instance_error" : "server_error", response.status, detail, readRetryAfterMs(response.headers));
}

/** When nothing answered, the client hears the most useful of the failures: throttling first, since it says when to come back. */
function finalError(failures: Failure[], blocked: Plan["blocked"], now: number, budgetMessage?: string): ProxyError {
  const throttled = failures.filter((failure) => failure.reason === "throttled");
  const onlyWaiting = failures.length === 0 && isOnlyThrottled(blocked);
  if (throttled.length > 0 || onlyWaiting) {
    const waits = throttled.map((failure) => failure.retryAfterMs).filter((ms): ms is number => ms !== undefined);
    if (blocked.length > 0) waits.push(soonestRecovery(blocked, now) - now);
    const retryAfterMs = Math.max(1, waits.length > 0 ? Math.min(...waits) : 1000);
    return new ProxyError("rate_limit_exceeded", "Every instance serving this model is rate limited. Please retry later.", {
      headers: { "retry-after": String(Math.ceil(retryAfterMs / 1000)), "retry-after-ms": String(retryAfterMs) },
    });
  }
  if (budgetMessage) return new ProxyError("no_instance_available", budgetMessage, { headers: { "retry-after": "1" } });
  const last = failures.at(-1);
  switch (last?.reason) {
    case "timeout":
      return new ProxyError("upstream_timeout", "The upstream did not answer in time.");
    case "instance_error":
      return new ProxyError("upstream_misconfigured", "The upstream rejected the proxy's configuration for this model (key, deployment or address).");
    case "server_error":
      return new ProxyError("upstream_bad_response", `The upstream failed (status ${last.status}).`);
    case "connection_error":
      return new ProxyError("upstream_unreachable", "The upstream could not be reached.");
    default:
      return unavailable(blocked, now);
  }
}

function readErrorCode(text: string): string | null {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return typeof code === "string" ? code : null;
  } catch {
    return null;
  }
}

/**
 * Usage the upstream did not report: the prompt counted with the model's tokenizer, plus either the generated
 * text counted exactly, or — for a stream cut before its usage frame — the frames streamed (about one token each).
 */
async function countUsage(request: ProxyRequest, completionText: string, framesStreamed: number | null): Promise<Usage> {
  const prompt =
    request.operation === "chat/completions"
      ? await countChatPromptTokens(request.body.messages, request.model)
      : await countPromptListTokens(request.body.prompt ?? request.body.input, request.model);
  const completion = framesStreamed ?? (await countTextTokens(completionText, request.model));
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
