// The OpenAI-compatible and Azure-style proxy endpoints: authenticate, read, plan, forward.
import { Elysia } from "elysia";
import { ProxyError, toProxyError } from "../errors.ts";
import type { ClientAuthenticator, ClientIdentity } from "../http/client-auth.ts";
import { pathnameOf } from "../http/security-headers.ts";
import { checkCouldEverFit, type Limiter } from "../limiter/limiter.ts";
import type { Logger } from "../log.ts";
import type { Operation } from "../providers/azure/url.ts";
import type { TargetTable } from "../routing/targets.ts";
import { forward, type ForwardDeps } from "./forward.ts";
import { parseProxyRequest, readBodyWithin } from "./read-request.ts";
import { toRequestRecord, type RequestSettled } from "./request-record.ts";

export type ProxyDeps = {
  table: TargetTable;
  auth: ClientAuthenticator;
  maxBodyBytes: number;
  /** Security and CORS headers for the answer to `request` (see proxyResponseHeaders). */
  answerHeaders: (request: Request) => Readonly<Record<string, string>>;
  /** limits.client_idle_timeout, restored once a non-streamed answer is ready. */
  clientIdleTimeoutSec: number;
  logger: Logger;
  settle: RequestSettled;
  limiter: Limiter;
  forward: ForwardDeps;
};

type BunServer = { timeout(request: Request, seconds: number): void } | null;

/** The proxied operations: OpenAI's paths, Azure's v1 paths, and Azure's deployment paths (the model is in the URL). */
export const PROXY_ENDPOINTS: ReadonlyArray<{ path: string; operation: Operation }> = (["chat/completions", "completions", "embeddings"] as const).flatMap(
  (operation) => [
    { path: `/v1/${operation}`, operation },
    { path: `/openai/v1/${operation}`, operation },
    { path: `/openai/deployments/:deployment/${operation}`, operation },
  ],
);

function deploymentIn(params: unknown): string | undefined {
  const deployment = params !== null && typeof params === "object" && "deployment" in params ? params.deployment : undefined;
  return typeof deployment === "string" ? deployment : undefined;
}

/** The records' `endpoint`, one string per operation. */
const ENDPOINT_OF: Readonly<Record<Operation, string>> = { "chat/completions": "/chat/completions", completions: "/completions", embeddings: "/embeddings" };

export type ProxyHandler = (request: Request, server: BunServer, operation: Operation, deployment?: string) => Promise<Response>;

/**
 * The proxied endpoints as Bun's own routes, for Elysia's `serve.routes`: the request goes straight to the handler,
 * without Elysia's per-request hooks (~7 µs of a ~70 µs request on the bench machine). What those hooks add to a
 * response, the handler builds in (ProxyDeps.answerHeaders); a preflight or a wrong verb is not routed here and
 * still meets them.
 */
export function nativeProxyRoutes(handle: ProxyHandler, answerHeaders: ProxyDeps["answerHeaders"], logger: Logger) {
  const fail = (request: Request, caught: unknown): Response => {
    const requestId = crypto.randomUUID();
    logger.error("unhandled error", { requestId, path: pathnameOf(request.url), error: caught });
    return toProxyError(caught).toResponse(requestId, answerHeaders(request));
  };
  const routes: Record<string, { POST: (request: Request & { params?: Record<string, string> }, server: BunServer) => Promise<Response> }> = {};
  for (const { path, operation } of PROXY_ENDPOINTS) {
    routes[path] = {
      POST: (request, server) =>
        // handle answers its own errors; this is for a bug in it, which must still get OpenAI's shape, not Bun's page.
        handle(request, server, operation, deploymentIn(request.params)).catch((caught: unknown) => fail(request, caught)),
    };
  }
  return routes;
}

export function proxyRoutes(deps: ProxyDeps) {
  async function handle(request: Request, server: BunServer, operation: Operation, deployment?: string): Promise<Response> {
    const startedAt = deps.forward.now();
    const requestId = crypto.randomUUID();
    const answerHeaders = deps.answerHeaders(request);
    const endpoint = ENDPOINT_OF[operation];
    let model = "";
    let clientName: string | null = null;
    let client: ClientIdentity | null = null;
    try {
      if (deps.auth.enabled) {
        client = deps.auth.identify(request.headers);
        if (!client) throw invalidKey(request.headers);
        clientName = client.name;
      }
      const bytes = await readBodyWithin(request, deps.maxBodyBytes);
      // Past this point our own timers (upstream timeout, stream idle timeout) own the connection's lifetime:
      // Bun's idle timeout would otherwise cut a quiet stream or a long non-streaming completion.
      server?.timeout(request, 0);
      const modelFromPath = deployment === undefined ? undefined : (deps.table.modelOfDeployment.get(deployment) ?? deployment);
      const parsed = parseProxyRequest(operation, bytes, modelFromPath);
      model = parsed.model;
      const targets = deps.table.byModel.get(parsed.model);
      if (!targets?.[0]) {
        throw new ProxyError("model_not_found", `The model '${parsed.model}' does not exist or is not served by this proxy.`, {
          param: "model",
        });
      }
      // The table's own string, equal to the one parsed: the request's record keeps it until statistics are written.
      parsed.model = model = targets[0].model;
      const instances = targets.map((target) => target.instance);
      const estimated = deps.limiter.estimate({ operation, model: parsed.model, body: parsed.body, bodyBytes: bytes.byteLength }, { instances, client });
      // An await costs a turn of the microtask queue even on a plain value: only a tokenizer still loading needs one.
      const estimate = estimated instanceof Promise ? await estimated : estimated;
      // A request larger than every budget would otherwise meet an endless series of 429s.
      const fit = checkCouldEverFit({ tokens: estimate.totalTokens, instances, client });
      if (!fit.ok) throw new ProxyError("tokens_exceed_limit", fit.message);
      const response = await forward(
        {
          requestId,
          answerHeaders,
          clientName,
          startedAt,
          endpoint,
          request: parsed,
          clientSignal: request.signal,
          // Bun's idle timer closes a connection that makes no progress: one second of it for a client that stopped reading.
          closeClient: () => server?.timeout(request, 1),
          client,
          estimate,
        },
        deps.forward,
      );
      // The answer is complete: a client that does not read it loses the connection like an idle one (streams watch their own reader).
      if (response.headers.get("content-type") !== "text/event-stream") server?.timeout(request, deps.clientIdleTimeoutSec);
      return response;
    } catch (caught) {
      const error = toProxyError(caught);
      if (error.status >= 500) deps.logger.error("request failed inside the proxy", { requestId, error: error.cause ?? error });
      const identity = { requestId, startedAt, clientName, model, endpoint, stream: false };
      deps.settle(toRequestRecord(identity, deps.forward.now(), { status: error.status, errorCode: error.code }));
      return error.toResponse(requestId, answerHeaders);
    }
  }

  const modelsList = () => ({
    object: "list",
    data: deps.table.models.map((id) => modelObject(id)),
  });

  const routes = new Elysia();
  for (const { path, operation } of PROXY_ENDPOINTS) {
    routes.post(path, ({ request, server, params }) => handle(request, server, operation, deploymentIn(params)), { parse: "none" });
  }
  const plugin = routes
    .get("/v1/models", ({ request }) => guarded(request, () => Response.json(modelsList())))
    .get("/openai/v1/models", ({ request }) => guarded(request, () => Response.json(modelsList())))
    .get("/v1/models/:model", ({ request, params }) =>
      guarded(request, () => {
        const model = decodeURIComponent(params.model);
        if (!deps.table.byModel.has(model)) {
          throw new ProxyError("model_not_found", `The model '${model}' does not exist or is not served by this proxy.`, { param: "model" });
        }
        return Response.json(modelObject(model));
      }),
    );
  return { handle: handle satisfies ProxyHandler, plugin };

  /** Auth and error rendering for the small GET endpoints. */
  function guarded(request: Request, respond: (requestId: string) => Response): Response {
    const requestId = crypto.randomUUID();
    try {
      if (deps.auth.enabled && !deps.auth.identify(request.headers)) throw invalidKey(request.headers);
      const response = respond(requestId);
      response.headers.set("x-request-id", requestId);
      return response;
    } catch (caught) {
      return toProxyError(caught).toResponse(requestId);
    }
  }
}

function modelObject(id: string) {
  return { id, object: "model", created: 0, owned_by: "azure-openai-proxy" };
}

function invalidKey(headers: Headers): ProxyError {
  const presented = headers.has("authorization") || headers.has("api-key");
  return new ProxyError(
    "invalid_api_key",
    presented
      ? "Incorrect API key provided."
      : "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or in the 'api-key' header.",
  );
}
