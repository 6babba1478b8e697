// Answers 405 with an Allow header for a known path called with the wrong verb, instead of a bare 404.
import { Elysia } from "elysia";
import { ProxyError } from "../errors.ts";

export function methodGuard(routes: ReadonlyArray<{ path: string; method: "GET" | "POST" }>) {
  const app = new Elysia();
  for (const { path, method } of routes) {
    app.all(path, ({ request }) =>
      new ProxyError("method_not_allowed", `Method ${request.method} is not allowed on ${new URL(request.url).pathname}; use ${method}.`, {
        headers: { allow: method },
      }).toResponse(crypto.randomUUID()),
    );
  }
  return app;
}
