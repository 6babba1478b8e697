// The /admin/* endpoints: login/session, instances (view, reset, runtime overrides), config, reload, the event stream.
import { Elysia } from "elysia";
import { ProxyError, toProxyError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { AdminAuth } from "./auth.ts";
import type { EventHub } from "./event-hub.ts";
import type { AdminService } from "./service.ts";

export type AdminRoutesDeps = {
  auth: AdminAuth;
  service: AdminService;
  hub: EventHub;
  name: () => string;
  logger: Logger;
};

type BunServer = { timeout(request: Request, seconds: number): void; requestIP(request: Request): { address: string } | null } | null;

const MAX_ADMIN_BODY_BYTES = 16 * 1024;

export function adminRoutes(deps: AdminRoutesDeps) {
  const { service } = deps;
  /** Our error shape and a request id on every answer; unexpected failures go to the log, not the body. */
  const answer = async (respond: (requestId: string) => Promise<Response> | Response): Promise<Response> => {
    const requestId = crypto.randomUUID();
    try {
      const response = await respond(requestId);
      response.headers.set("x-request-id", requestId);
      return response;
    } catch (caught) {
      const error = toProxyError(caught);
      if (error.status >= 500) deps.logger.error("admin request failed", { requestId, error: error.cause ?? error });
      return error.toResponse(requestId);
    }
  };
  // Elysia has already decoded the parameter (and gives null for a malformed escape): decoding again would break "a%b".
  const nameOf = (params: { name: string | null }) => params.name ?? "";

  return new Elysia({ name: "admin.routes" })
    .post(
      "/admin/login",
      ({ request, server }) =>
        answer(async () => {
          const body = await readJsonBody(request);
          const token = body !== null && typeof body === "object" && "token" in body ? body.token : undefined;
          const result = deps.auth.login(token, remoteAddressOf(server, request));
          if ("error" in result) throw result.error;
          return new Response(null, { status: 204, headers: { "set-cookie": result.cookie } });
        }),
      { parse: "none" },
    )
    .post("/admin/logout", ({ request }) =>
      answer(() => new Response(null, { status: 204, headers: { "set-cookie": deps.auth.logout(request) } })),
    )
    .get("/admin/session", () => answer(() => Response.json({ authenticated: true, name: deps.name() })))
    .get("/admin/instances", () => answer(() => Response.json({ instances: service.views() })))
    .post("/admin/instances/:name/reset", ({ params }) => answer(async () => Response.json(await service.reset(nameOf(params)))))
    .put(
      "/admin/instances/:name/config",
      ({ params, request }) => answer(async () => Response.json(service.putOverride(nameOf(params), await readJsonBody(request)))),
      { parse: "none" },
    )
    .delete("/admin/instances/:name/config", ({ params }) => answer(() => Response.json(service.deleteOverride(nameOf(params)))))
    .get("/admin/config", () => answer(() => Response.json(service.config())))
    .post("/admin/reload", () => answer(async () => Response.json(await service.reload())))
    .get("/admin/events", ({ request, server }) => answer(() => openEventStream(request, server, deps.hub)));
}

/** Bun's idle timeout would cut the stream between frames; its own heartbeat keeps proxies in between awake. */
function openEventStream(request: Request, server: BunServer, hub: EventHub): Response {
  server?.timeout(request, 0);
  const { queue, release } = hub.subscribe();
  const encoder = new TextEncoder();
  // The request's abort and the stream's cancel both mean the browser left; either releases the subscriber.
  request.signal.addEventListener("abort", release, { once: true });
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const frame = await queue.next();
        if (frame === null) {
          controller.close();
          return;
        }
        controller.enqueue(encoder.encode(frame));
      },
      cancel() {
        release();
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" },
  });
}

export function remoteAddressOf(server: BunServer, request: Request): string | null {
  return server?.requestIP(request)?.address ?? null;
}

async function readJsonBody(request: Request): Promise<unknown> {
  const text = await request.text();
  if (text.length > MAX_ADMIN_BODY_BYTES) throw new ProxyError("request_too_large", "The admin request body is too large.");
  if (text.trim() === "") throw new ProxyError("invalid_request", "The request needs a JSON body.");
  try {
    return JSON.parse(text);
  } catch {
    throw new ProxyError("invalid_json", "We could not parse the body of your request.");
  }
}
