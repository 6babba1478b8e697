// Headers every response carries (nosniff, no referrer, no-store on API answers, a strict CSP on the dashboard) and CORS for /v1.
import { Elysia } from "elysia";

const API_PREFIXES = ["/v1", "/openai", "/admin", "/stats", "/metrics", "/health"];
const CORS_PREFIXES = ["/v1/", "/openai/"];

/** Scripts, styles and data only from the proxy itself; nothing may frame the dashboard. */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** The path of an absolute request URL without building a URL object: these hooks run on every request. */
export function pathnameOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  const end = Math.min(query < 0 ? url.length : query, hash < 0 ? url.length : hash);
  return url.slice(start, end);
}

export function isApiPath(pathname: string): boolean {
  return API_PREFIXES.some((prefix) => pathname === prefix || pathname.startsWith(`${prefix}/`));
}

/**
 * The Access-Control headers for a /v1 request from `origin`, or null when it gets none. Admin paths never
 * get any: the dashboard is served from the same origin, and nothing else should drive the admin API from a page.
 * No Allow-Credentials ever: clients authenticate with a key header, not cookies.
 */
export function corsHeadersFor(pathname: string, origin: string | null, allowed: readonly string[]): Record<string, string> | null {
  if (origin === null || !CORS_PREFIXES.some((prefix) => pathname.startsWith(prefix))) return null;
  return corsHeadersForOrigin(origin, allowed);
}

function corsHeadersForOrigin(origin: string, allowed: readonly string[]): Record<string, string> | null {
  if (allowed.includes("*")) return { "access-control-allow-origin": "*" };
  if (!allowed.includes(origin)) return null;
  return { "access-control-allow-origin": origin, vary: "Origin" };
}

/** On every response: set on the Response itself, since headers merged through Elysia's `set` cost ~14 µs a request. */
const ALWAYS = [
  ["x-content-type-options", "nosniff"],
  ["referrer-policy", "no-referrer"],
] as const;

export function securityHeaders(options: { corsOrigins: () => readonly string[] }) {
  /** A CORS preflight is answered before routing: the proxy paths' method guard would call OPTIONS a 405. */
  const preflight = (request: Request): Response | undefined => {
    if (request.method !== "OPTIONS" || !request.headers.has("access-control-request-method")) return undefined;
    const cors = corsHeadersFor(pathnameOf(request.url), request.headers.get("origin"), options.corsOrigins());
    if (!cors) return undefined;
    return new Response(null, {
      status: 204,
      headers: {
        ...cors,
        ...Object.fromEntries(ALWAYS),
        "access-control-allow-methods": "GET, POST, OPTIONS",
        "access-control-allow-headers": "authorization, api-key, content-type, x-request-id",
        "access-control-max-age": "600",
      },
    });
  };
  return new Elysia({ name: "http.security-headers" })
    .onRequest(({ request }) => preflight(request))
    .mapResponse({ as: "global" }, ({ request, response, set }) => {
      const extra = Object.entries(responseHeadersFor(request, options.corsOrigins));
      if (response instanceof Response) {
        try {
          setMissing(response, extra);
          return;
        } catch {
          // Immutable headers (a fetched Response passed through): Elysia's merge below still adds them.
        }
      }
      for (const [name, value] of extra) set.headers[name] ??= value;
    });
}

// A response that chose its own caching or policy (a dashboard asset) keeps it: these are only added where missing.
const API_HEADERS: Readonly<Record<string, string>> = Object.freeze({ ...Object.fromEntries(ALWAYS), "cache-control": "no-store" });
const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({ ...Object.fromEntries(ALWAYS), "content-security-policy": DASHBOARD_CSP });

/**
 * What every response to `request` carries unless it set its own: the ALWAYS pair, caching or CSP, and CORS. A shared
 * frozen object when there is no CORS to add; the proxy builds its answers with it (a header set on a finished
 * Response costs a native call each), the hook below adds it to everything else.
 */
export function responseHeadersFor(request: Request, corsOrigins: () => readonly string[]): Readonly<Record<string, string>> {
  const pathname = pathnameOf(request.url);
  const base = isApiPath(pathname) ? API_HEADERS : PAGE_HEADERS;
  const origin = request.headers.get("origin");
  const cors = origin === null ? null : corsHeadersFor(pathname, origin, corsOrigins());
  return cors ? { ...base, ...cors } : base;
}

/**
 * responseHeadersFor a request routed to a proxied endpoint: every one is an API path under /v1/ or /openai/, so the
 * answer depends on the Origin header alone and the request's URL is never built.
 */
export function proxyResponseHeaders(request: Request, corsOrigins: () => readonly string[]): Readonly<Record<string, string>> {
  const origin = request.headers.get("origin");
  const cors = origin === null ? null : corsHeadersForOrigin(origin, corsOrigins());
  return cors ? { ...API_HEADERS, ...cors } : API_HEADERS;
}

function setMissing(response: Response, headers: ReadonlyArray<readonly [string, string]>): void {
  for (const [name, value] of headers) if (!response.headers.has(name)) response.headers.set(name, value);
}
