// The built-in simulated Azure OpenAI resource behind `bun run demo` and the benchmark: an HTTP shell over the pure simulator modules.
import { rateLimitErrorBody, resourceNotFoundBody, serverErrorBody } from "./azure-error-bodies.ts";
import { matchAzureRoute, splitRequestUrl, toOperationName, type AzureRoute } from "./azure-route.ts";
import { waitUnlessAborted } from "./abortable-wait.ts";
import { createAnswerTemplate, type AnswerTemplate } from "./answer-template.ts";
import { createFrameStream } from "./frame-stream.ts";
import {
  buildAzureHeaders,
  buildSimulatedAnswer,
  JSON_CONTENT_TYPE,
  SSE_CONTENT_TYPE,
  type SimulatedAnswer,
} from "./simulated-answer.ts";
import { admitSimulatedRequest, type SimulatedRequest } from "./simulated-request.ts";
import { createTokenWindow } from "./token-window.ts";

export type AzureSimulatorOptions = {
  /** Expected in `api-key`, or as `Authorization: Bearer` (v1 and OpenAI forms). */
  apiKey: string;
  /** Deployment names that exist; undefined accepts any. */
  deployments?: readonly string[];
  /** Tokens per sliding 60 s window; over it answers 429 with retry-after. Undefined: no limit. */
  maxTpm?: number;
  /** Delay before the response headers. */
  latencyMs?: number;
  /** Gap between stream frames; 0 writes the whole stream at once. */
  tokenIntervalMs?: number;
  /** Pieces (completion tokens) per answer before `max_tokens`. */
  completionTokens?: number;
  embeddingDimensions?: number;
  region?: string;
  port?: number;
  hostname?: string;
};

export type AzureSimulator = AsyncDisposable & {
  url: string;
  port: number;
  stop(): Promise<void>;
};

const WINDOW_MS = 60_000;
const MAX_TEMPLATES = 512;
const FRAME_END = "\n\n";
const DEFAULT_MODEL_IDS = ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"];
const REPLY_WORDS = ["This", "is", "a", "simulated", "Azure", "OpenAI", "reply,", "streamed", "token", "by", "token."];

export async function startAzureSimulator(options: AzureSimulatorOptions): Promise<AzureSimulator> {
  const latencyMs = options.latencyMs ?? 0;
  const tokenIntervalMs = options.tokenIntervalMs ?? 0;
  const region = options.region ?? "Simulated";
  const embeddingDimensions = options.embeddingDimensions ?? 1536;
  const modelIds = options.deployments ?? DEFAULT_MODEL_IDS;
  const pieces = buildReplyPieces(options.completionTokens ?? 20);
  const { maxTpm } = options;
  // Azure grants 6 RPM per 1000 TPM; reported in headers only, never enforced here.
  const maxRpm = maxTpm === undefined ? undefined : Math.max(1, Math.floor((maxTpm * 6) / 1000));
  const tokenWindow = createTokenWindow(WINDOW_MS);
  const requestWindow = createTokenWindow(WINDOW_MS);
  const idPrefix = crypto.randomUUID().slice(0, 8);
  let sequence = 0;
  const templates = new Map<string, AnswerTemplate>();

  const headersAt = (nowMs: number, contentType: string): Record<string, string> =>
    buildAzureHeaders(
      {
        requestId: crypto.randomUUID(),
        region,
        remainingRequests: maxRpm === undefined ? -1 : Math.max(0, maxRpm - requestWindow.usedAt(nowMs)),
        remainingTokens: maxTpm === undefined ? -1 : Math.max(0, maxTpm - tokenWindow.usedAt(nowMs)),
      },
      contentType,
    );

  const answerJson = (status: number, body: unknown, nowMs: number, extra: Record<string, string> = {}): Response =>
    new Response(JSON.stringify(body), { status, headers: { ...headersAt(nowMs, JSON_CONTENT_TYPE), ...extra } });

  /** Charges the window, or says how long to wait; Azure reserves prompt + max_tokens at admission. */
  const admitTokens = (route: AzureRoute, request: SimulatedRequest, nowMs: number): number => {
    if (route.operation === "models") return 0;
    const completion = route.operation === "embeddings" ? 0 : Math.min(request.maxTokens ?? pieces.length, pieces.length);
    const reserve = request.promptTokens + (route.operation === "embeddings" ? 0 : (request.maxTokens ?? pieces.length));
    const waitMs = maxTpm === undefined ? 0 : tokenWindow.retryAfterMs(nowMs, reserve, maxTpm);
    if (waitMs === 0) tokenWindow.add(nowMs, request.promptTokens + completion);
    return waitMs;
  };

  const handle = async (req: Request): Promise<Response> => {
    const { pathname, query } = splitRequestUrl(req.url);
    const route = matchAzureRoute(req.method, pathname, query);
    const rawBody = req.method === "POST" ? await req.text() : "";
    const nowMs = Date.now();
    requestWindow.add(nowMs, 1);
    if (route === undefined) return answerJson(404, resourceNotFoundBody(), nowMs);
    const admission = admitSimulatedRequest(route, req.headers, rawBody, { apiKey: options.apiKey, deployments: options.deployments });
    if (!admission.ok) return answerJson(admission.status, admission.body, nowMs);

    const waitMs = admitTokens(route, admission.request, nowMs);
    if (waitMs > 0) {
      const retryAfterSec = Math.ceil(waitMs / 1000);
      const body = rateLimitErrorBody(retryAfterSec, { operation: toOperationName(route.operation), apiVersion: route.apiVersion ?? "v1" });
      return answerJson(429, body, nowMs, { "retry-after": String(retryAfterSec), "retry-after-ms": String(waitMs) });
    }
    if (latencyMs > 0 && !(await waitUnlessAborted(latencyMs, req.signal))) return new Response(null, { status: 499 });

    const idSuffix = `${idPrefix}${(++sequence).toString(36)}`;
    const createdSec = Math.floor(nowMs / 1000);
    const answer = renderAnswer(route, admission.request, admission.deployment ?? "", idSuffix, createdSec);
    if (!answer.streamed) return new Response(answer.text, { headers: headersAt(nowMs, JSON_CONTENT_TYPE) });
    const headers = headersAt(nowMs, SSE_CONTENT_TYPE);
    // Unpaced streams go out as one buffer: the benchmark measures the proxy, not this pump.
    if (tokenIntervalMs <= 0) return new Response(answer.text, { headers });
    // JSON escapes newlines, so a blank line can only be a frame boundary.
    const frames = answer.text.split(FRAME_END).slice(0, -1).map((frame) => frame + FRAME_END);
    const body = createFrameStream(frames, { delayBeforeMs: (index) => (index === 0 ? 0 : tokenIntervalMs) });
    return new Response(body, { headers });
  };

  const build = (route: AzureRoute, request: SimulatedRequest, model: string) =>
    (idSuffix: string, createdSec: number) =>
      buildSimulatedAnswer({ operation: route.operation, request, model, pieces, idSuffix, createdSec, embeddingDimensions, modelIds });

  /** Chat and completion answers differ between requests only by id and time: build each shape once, then fill it in. */
  const renderAnswer = (route: AzureRoute, request: SimulatedRequest, model: string, idSuffix: string, createdSec: number) => {
    if (route.operation === "embeddings" || route.operation === "models") {
      return { streamed: false, text: toText(build(route, request, model)(idSuffix, createdSec)) };
    }
    const key = `${route.operation}|${model}|${request.stream}|${request.includeUsage}|${request.maxTokens}|${request.promptTokens}`;
    let template = templates.get(key);
    if (template === undefined) {
      if (templates.size >= MAX_TEMPLATES) templates.clear();
      template = createAnswerTemplate((id, created) => toText(build(route, request, model)(id, created)));
      templates.set(key, template);
    }
    return { streamed: request.stream, text: template(idSuffix, createdSec) };
  };

  const server = Bun.serve({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    // Bun drops connections quiet for 10 s by default; a long latency or frame gap is quiet on purpose.
    idleTimeout: Math.min(255, Math.ceil(Math.max(latencyMs, tokenIntervalMs) / 1000) + 10),
    fetch: handle,
    error: () => new Response(JSON.stringify(serverErrorBody(500)), { status: 500, headers: { "content-type": JSON_CONTENT_TYPE } }),
  });

  const port = server.port ?? 0;
  const stop = async (): Promise<void> => {
    await server.stop(true);
  };
  return { url: `http://${server.hostname ?? "127.0.0.1"}:${port}`, port, stop, [Symbol.asyncDispose]: stop };
}

function buildReplyPieces(count: number): string[] {
  return Array.from({ length: Math.max(0, count) }, (_, i) => `${i === 0 ? "" : " "}${REPLY_WORDS[i % REPLY_WORDS.length] ?? ""}`);
}

function toText(answer: SimulatedAnswer): string {
  return answer.kind === "sse" ? answer.frames.join("") : JSON.stringify(answer.body);
}
