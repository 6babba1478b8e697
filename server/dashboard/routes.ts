// GET / (redirect), /dashboard and its assets: served from memory, loaded on first use.
import { Elysia } from "elysia";
import type { DashboardAsset } from "../../dashboard/build.ts";
import { ProxyError } from "../errors.ts";
import type { Logger } from "../log.ts";

export type DashboardRoutesDeps = {
  load: () => Promise<DashboardAsset[]>;
  logger: Logger;
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
      // The strict content-security-policy and nosniff come from the security-headers plugin, as on every page.
      headers: {
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
