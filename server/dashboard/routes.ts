// GET / (redirect), /dashboard and its assets: served from memory with a strict CSP; loaded on first use.
import { Elysia } from "elysia";
import type { DashboardAsset } from "../../dashboard/build.ts";
import { ProxyError } from "../errors.ts";
import type { Logger } from "../log.ts";

export type DashboardRoutesDeps = {
  load: () => Promise<DashboardAsset[]>;
  logger: Logger;
};

/** The page runs only its own bundled script and stylesheet, talks only to this origin, and cannot be framed. */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const SECURITY_HEADERS = {
  "content-security-policy": DASHBOARD_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

export function dashboardRoutes(deps: DashboardRoutesDeps) {
  let loading: Promise<Map<string, DashboardAsset>> | null = null;
  const assets = () => {
    loading ??= deps.load().then(
      (list) => new Map(list.map((asset) => [asset.path, asset])),
      (error: unknown) => {
        // Forget the failure so a later request tries again (e.g. after a source fix under `bun --watch`).
        loading = null;
        throw error;
      },
    );
    return loading;
  };

  const serve = async (path: string): Promise<Response> => {
    const requestId = crypto.randomUUID();
    let files;
    try {
      files = await assets();
    } catch (error) {
      deps.logger.error("dashboard unavailable", { requestId, error });
      return new ProxyError("internal_error", "The dashboard could not be loaded.").toResponse(requestId);
    }
    const asset = files.get(path);
    if (!asset) return new ProxyError("not_found", `Unknown dashboard file: ${path}.`).toResponse(requestId);
    return new Response(asset.body, {
      headers: {
        ...SECURITY_HEADERS,
        "content-type": asset.contentType,
        // Everything but the page has a content hash in its name, so it can be cached for good.
        "cache-control": path === "index.html" ? "no-cache" : "public, max-age=31536000, immutable",
      },
    });
  };

  return new Elysia({ name: "dashboard.routes" })
    .get("/", ({ redirect }) => redirect("/dashboard", 302))
    .get("/dashboard", () => serve("index.html"))
    .get("/dashboard/", () => serve("index.html"))
    .get("/dashboard/*", ({ params }) => serve(params["*"]));
}
