// A scriptable fake Azure OpenAI for tests: records every request (including client aborts) and answers with queued behaviours.
import { waitUnlessAborted } from "../../server/simulator/abortable-wait.ts";
import {
  accessDeniedBody,
  deploymentNotFoundBody,
  invalidRequestBody,
  rateLimitErrorBody,
  resourceNotFoundBody,
  serverErrorBody,
} from "../../server/simulator/azure-error-bodies.ts";
import { matchAzureRoute, splitRequestUrl } from "../../server/simulator/azure-route.ts";
import { splitIntoPieces } from "../../server/simulator/azure-wire-bodies.ts";
import { createFrameStream } from "../../server/simulator/frame-stream.ts";
import { buildAzureHeaders, buildSimulatedAnswer, JSON_CONTENT_TYPE, SSE_CONTENT_TYPE } from "../../server/simulator/simulated-answer.ts";
import { admitSimulatedRequest } from "../../server/simulator/simulated-request.ts";

export type FakeBehaviour =
  /** A normal answer for the path (chat, completions, embeddings, models); streams when the body asks. */
  | { kind: "ok"; content?: string; headers?: Record<string, string> }
  /** Any status; without `body` an Azure-shaped one for that status, without `headers` 429 gets retry-after 1 s. */
  | { kind: "status"; status: number; body?: unknown; headers?: Record<string, string> }
  /** Never answers; the request is marked aborted when the client gives up. */
  | { kind: "hang" }
  /** Waits before the headers, then behaves as `then` (default: ok). */
  | { kind: "delay"; ms: number; then?: FakeBehaviour }
  /** Sends N frames, then resets the connection: no [DONE]. 0 (or a non-streamed answer) resets before the headers. */
  | { kind: "cut-stream"; afterFrames: number; content?: string }
  /** Sends N frames, goes quiet for `ms`, then finishes normally. (Stall and slow pace only streamed answers.) */
  | { kind: "stall-stream"; afterFrames: number; ms: number; content?: string }
  /** Sends the first frame at once and every later frame `intervalMs` apart. */
  | { kind: "slow-stream"; intervalMs: number; content?: string }
  /** Exactly these bytes, status and headers (malformed frames, odd content types). */
  | { kind: "raw"; status: number; headers?: Record<string, string>; body: string };

export type RecordedRequest = {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** Parsed JSON, or the raw text when it is not JSON. */
  body: unknown;
  rawBody: string;
  /** The client disconnected before the answer was complete. */
  aborted: boolean;
  abortedAt?: number;
  receivedAt: number;
};

export type FakeAzureOptions = {
  apiKey?: string;
  /** Deployments that exist for `ok` answers; undefined accepts any. */
  deployments?: string[];
  region?: string;
  embeddingDimensions?: number;
  /** Reply text of `ok` answers unless a behaviour names its own. */
  content?: string;
};

export type FakeAzure = AsyncDisposable & {
  url: string;
  port: number;
  apiKey: string;
  requests: RecordedRequest[];
  /** Each incoming request takes the next queued behaviour; the default once the queue is empty. */
  enqueue(...behaviours: FakeBehaviour[]): void;
  setDefault(behaviour: FakeBehaviour): void;
  lastRequest(): RecordedRequest | undefined;
  /** Forgets recorded requests and queued behaviours; the default stays. */
  clear(): void;
};

type Exchange = { request: Request; record: RecordedRequest; markAborted: () => void; settle: () => void };

const DEFAULT_CONTENT = "Hello from the fake Azure.";
const DEFAULT_MODEL_IDS = ["gpt-4o", "gpt-35-turbo", "text-embedding-3-small"];

export async function startFakeAzure(options: FakeAzureOptions = {}): Promise<FakeAzure> {
  const apiKey = options.apiKey ?? "fake-azure-key";
  const region = options.region ?? "East US";
  const requests: RecordedRequest[] = [];
  const queue: FakeBehaviour[] = [];
  let defaultBehaviour: FakeBehaviour = { kind: "ok" };
  let sequence = 0;

  // Plenty of quota on every answer, none on a 429, as Azure reports it.
  const azureHeaders = (contentType: string, throttled = false): Record<string, string> =>
    buildAzureHeaders(
      { requestId: crypto.randomUUID(), region, remainingRequests: throttled ? 0 : 99, remainingTokens: throttled ? 0 : 99_000 },
      contentType,
    );

  const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
    new Response(JSON.stringify(body), { status, headers: { ...azureHeaders(JSON_CONTENT_TYPE, status === 429), ...headers } });

  /** The normal answer as frames (one frame when not streamed), or the error Azure would give instead. */
  const answerNormally = (exchange: Exchange, content: string | undefined): { frames: string[]; streamed: boolean } | Response => {
    const { pathname, query } = splitRequestUrl(exchange.request.url);
    const route = matchAzureRoute(exchange.request.method, pathname, query);
    if (route === undefined) return json(404, resourceNotFoundBody());
    const admission = admitSimulatedRequest(route, exchange.request.headers, exchange.record.rawBody, { apiKey, deployments: options.deployments });
    if (!admission.ok) return json(admission.status, admission.body);
    const answer = buildSimulatedAnswer({
      operation: route.operation,
      request: admission.request,
      model: admission.deployment ?? "",
      pieces: splitIntoPieces(content ?? options.content ?? DEFAULT_CONTENT),
      idSuffix: `fake${++sequence}`,
      createdSec: Math.floor(exchange.record.receivedAt / 1000),
      embeddingDimensions: options.embeddingDimensions ?? 1536,
      modelIds: options.deployments ?? DEFAULT_MODEL_IDS,
    });
    return answer.kind === "sse" ? { frames: answer.frames, streamed: true } : { frames: [JSON.stringify(answer.body)], streamed: false };
  };

  const answerOnSchedule = (
    exchange: Exchange,
    content: string | undefined,
    schedule: { delayBeforeMs: (index: number) => number; cutAfterFrames?: number },
    extraHeaders: Record<string, string> = {},
  ): Response => {
    const normal = answerNormally(exchange, content);
    if (normal instanceof Response) {
      exchange.settle();
      return normal;
    }
    // A JSON answer goes out whole, as Azure sends it; only a cut can break it (before the headers).
    if (!normal.streamed && schedule.cutAfterFrames === undefined) {
      exchange.settle();
      return new Response(normal.frames.join(""), { status: 200, headers: { ...azureHeaders(JSON_CONTENT_TYPE), ...extraHeaders } });
    }
    const body = createFrameStream(normal.frames, {
      delayBeforeMs: schedule.delayBeforeMs,
      // Never past the last frame: a cut stream must end without [DONE].
      ...(schedule.cutAfterFrames === undefined ? {} : { cutAfterFrames: Math.min(schedule.cutAfterFrames, normal.frames.length - 1) }),
      onCancel: exchange.markAborted,
      onEnd: exchange.settle,
    });
    return new Response(body, { status: 200, headers: { ...azureHeaders(SSE_CONTENT_TYPE), ...extraHeaders } });
  };

  const respond = async (behaviour: FakeBehaviour, exchange: Exchange): Promise<Response> => {
    switch (behaviour.kind) {
      case "ok":
        return answerOnSchedule(exchange, behaviour.content, { delayBeforeMs: () => 0 }, behaviour.headers);
      case "slow-stream":
        return answerOnSchedule(exchange, behaviour.content, { delayBeforeMs: (index) => (index === 0 ? 0 : behaviour.intervalMs) });
      case "stall-stream":
        return answerOnSchedule(exchange, behaviour.content, { delayBeforeMs: (index) => (index === behaviour.afterFrames ? behaviour.ms : 0) });
      case "cut-stream":
        return answerOnSchedule(exchange, behaviour.content, { delayBeforeMs: () => 0, cutAfterFrames: behaviour.afterFrames });
      case "status": {
        exchange.settle();
        const headers = behaviour.headers ?? (behaviour.status === 429 ? { "retry-after": "1", "retry-after-ms": "1000" } : {});
        const body = behaviour.body ?? defaultStatusBody(behaviour.status, headers);
        if (body === undefined) return new Response(null, { status: behaviour.status, headers: { ...azureHeaders(JSON_CONTENT_TYPE), ...headers } });
        return json(behaviour.status, body, headers);
      }
      case "raw":
        exchange.settle();
        return new Response(behaviour.body, { status: behaviour.status, headers: behaviour.headers ?? {} });
      case "hang":
        // Bun answers nothing until this resolves; the abort listener has already recorded the disconnect.
        return new Promise((resolve) => {
          exchange.request.signal.addEventListener("abort", () => resolve(new Response(null, { status: 499 })), { once: true });
        });
      case "delay":
        if (!(await waitUnlessAborted(behaviour.ms, exchange.request.signal))) return new Response(null, { status: 499 });
        return respond(behaviour.then ?? { kind: "ok" }, exchange);
    }
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    // Hangs and stalls are quiet on purpose; the test, not Bun's 10 s idle default, decides when they end.
    idleTimeout: 0,
    async fetch(request) {
      const { pathname, query } = splitRequestUrl(request.url);
      const rawBody = await request.text();
      const record: RecordedRequest = {
        method: request.method,
        path: pathname,
        query: Object.fromEntries(query),
        headers: Object.fromEntries(request.headers),
        body: parseBody(rawBody),
        rawBody,
        aborted: false,
        receivedAt: Date.now(),
      };
      requests.push(record);
      let settled = false;
      const exchange: Exchange = {
        request,
        record,
        settle: () => {
          settled = true;
        },
        markAborted: () => {
          if (settled || record.aborted) return;
          record.aborted = true;
          record.abortedAt = Date.now();
        },
      };
      // request.signal fires when the client disconnects before or while the answer is written.
      request.signal.addEventListener("abort", exchange.markAborted, { once: true });
      if (request.signal.aborted) exchange.markAborted();
      return respond(queue.shift() ?? defaultBehaviour, exchange);
    },
    // A bug in the fake should read as one in the test output, not as an Azure 500.
    error: (error) => Response.json({ error: { code: "fake_azure_bug", message: error.message } }, { status: 500 }),
  });

  const port = server.port ?? 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    apiKey,
    requests,
    enqueue: (...behaviours) => {
      queue.push(...behaviours);
    },
    setDefault: (behaviour) => {
      defaultBehaviour = behaviour;
    },
    lastRequest: () => requests.at(-1),
    clear: () => {
      requests.length = 0;
      queue.length = 0;
    },
    [Symbol.asyncDispose]: async () => {
      await server.stop(true);
    },
  };
}

function parseBody(rawBody: string): unknown {
  if (rawBody === "") return rawBody;
  try {
    return JSON.parse(rawBody);
  } catch {
    return rawBody;
  }
}

/** Azure's wording for the status when a test gives none; 3xx and the like get no body. */
function defaultStatusBody(status: number, headers: Record<string, string>): unknown {
  if (status === 429) return rateLimitErrorBody(readRetryAfterSec(headers));
  if (status === 401) return accessDeniedBody();
  if (status === 404) return deploymentNotFoundBody();
  if (status >= 500) return serverErrorBody(status);
  if (status >= 400) return invalidRequestBody("The request is invalid.");
  return undefined;
}

function readRetryAfterSec(headers: Record<string, string>): number {
  const lower = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  const ms = Number(lower["retry-after-ms"] ?? lower["x-ms-retry-after-ms"]);
  if (Number.isFinite(ms) && ms > 0) return Math.ceil(ms / 1000);
  const sec = Number(lower["retry-after"]);
  return Number.isFinite(sec) && sec > 0 ? sec : 1;
}
