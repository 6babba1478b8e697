// Renders every error Elysia itself raises (unknown path, unparsable body, anything thrown) in OpenAI's shape.
import { Elysia } from "elysia";
import { ProxyError, toProxyError } from "../errors.ts";
import type { Logger } from "../log.ts";

export function errorPlugin(logger: Logger) {
  return new Elysia().onError({ as: "global" }, ({ code, error, request }) => {
    const requestId = crypto.randomUUID();
    const proxyError = toFrameworkError(code, error, request);
    if (proxyError.status >= 500) logger.error("unhandled error", { requestId, path: new URL(request.url).pathname, error });
    return proxyError.toResponse(requestId);
  });
}

function toFrameworkError(code: string | number, error: unknown, request: Request): ProxyError {
  switch (code) {
    case "NOT_FOUND":
      return new ProxyError("not_found", `Unknown request URL: ${request.method} ${new URL(request.url).pathname}.`);
    case "PARSE":
      return new ProxyError("invalid_json", "We could not parse the body of your request.");
    case "VALIDATION":
      return new ProxyError("invalid_request", "The request is not valid.");
    default:
      return toProxyError(error);
  }
}
