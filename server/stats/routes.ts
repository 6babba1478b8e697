// GET /stats/, /stats/instances, /stats/usage and /metrics, in one plugin so the admin guard can cover them in one place.
import { Elysia } from "elysia";
import { ProxyError, toProxyError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ProxyMetrics } from "./metrics.ts";
import { readInstanceParam, readUsageParams, readWindowMinutes } from "./params.ts";
import type { StatsQueries } from "./queries.ts";

export type StatsRoutesDeps = {
  /** null when there is no statistics database: the /stats endpoints answer 503, /metrics still works. */
  queries: StatsQueries | null;
  metrics: ProxyMetrics;
  /** Configured instance names (as of now: a reload may change them): /stats/instances answers 404 for any other. */
  instances: { has(instance: string): boolean };
  logger: Logger;
  now: () => number;
};

const NO_STORE = { "cache-control": "no-store" };

export function statsRoutes(deps: StatsRoutesDeps) {
  /** Runs a query with our error shape; a database failure is a 503, never a stack trace. */
  const answer = (respond: (queries: StatsQueries, query: URLSearchParams) => unknown) => ({ request }: { request: Request }) => {
    const requestId = crypto.randomUUID();
    try {
      if (!deps.queries) throw new ProxyError("stats_unavailable", "Statistics are not available: the database could not be opened.");
      const body = respond(deps.queries, new URL(request.url).searchParams);
      return Response.json(body, { headers: { ...NO_STORE, "x-request-id": requestId } });
    } catch (caught) {
      if (caught instanceof ProxyError) return caught.toResponse(requestId);
      deps.logger.error("statistics query failed", { requestId, error: caught });
      return new ProxyError("stats_unavailable", "Statistics could not be read.", { cause: caught }).toResponse(requestId);
    }
  };

  const summary = answer((queries, query) => queries.summary(readWindowMinutes(query), deps.now()));

  return new Elysia({ name: "stats.routes" })
    .get("/stats", summary)
    .get("/stats/", summary)
    .get(
      "/stats/instances",
      answer((queries, query) => {
        const instance = readInstanceParam(query, deps.instances);
        return queries.instance(instance, readWindowMinutes(query), deps.now());
      }),
    )
    .get(
      "/stats/usage",
      answer((queries, query) => queries.usage(readUsageParams(query), deps.now())),
    )
    .get("/metrics", async () => {
      const requestId = crypto.randomUUID();
      try {
        const text = await deps.metrics.registry.metrics();
        return new Response(text, { headers: { "content-type": deps.metrics.registry.contentType, ...NO_STORE, "x-request-id": requestId } });
      } catch (caught) {
        deps.logger.error("metrics collection failed", { requestId, error: caught });
        return toProxyError(caught).toResponse(requestId);
      }
    });
}
