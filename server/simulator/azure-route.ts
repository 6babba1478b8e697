// Which simulated operation an upstream address names: Azure's deployment and v1 forms, and plain OpenAI's /v1.

export type Operation = "chat" | "completions" | "embeddings" | "models";

/** `deployment`: /openai/deployments/{d}/…?api-version; `v1`: /openai/v1/… (model in body); `openai`: /v1/…. */
export type RouteForm = "deployment" | "v1" | "openai";

export type AzureRoute = {
  operation: Operation;
  form: RouteForm;
  /** From the path in the deployment form; the others carry it in the body's `model`. */
  deployment?: string;
  apiVersion?: string;
};

const POST_OPERATIONS: Record<string, Operation> = {
  "chat/completions": "chat",
  completions: "completions",
  embeddings: "embeddings",
};

const DEPLOYMENT_PREFIX = "/openai/deployments/";

export function matchAzureRoute(method: string, pathname: string, query: URLSearchParams): AzureRoute | undefined {
  const apiVersion = query.get("api-version") ?? undefined;
  if (method === "GET") {
    if (pathname === "/openai/models") return withVersion({ operation: "models", form: "deployment" }, apiVersion);
    if (pathname === "/openai/v1/models") return { operation: "models", form: "v1" };
    if (pathname === "/v1/models") return { operation: "models", form: "openai" };
    return undefined;
  }
  if (method !== "POST") return undefined;
  if (pathname.startsWith(DEPLOYMENT_PREFIX)) {
    const rest = pathname.slice(DEPLOYMENT_PREFIX.length);
    const slash = rest.indexOf("/");
    const operation = slash > 0 ? POST_OPERATIONS[rest.slice(slash + 1)] : undefined;
    const deployment = slash > 0 ? decodeSegment(rest.slice(0, slash)) : undefined;
    if (operation === undefined || deployment === undefined) return undefined;
    return withVersion({ operation, form: "deployment", deployment }, apiVersion);
  }
  if (pathname.startsWith("/openai/v1/")) {
    const operation = POST_OPERATIONS[pathname.slice("/openai/v1/".length)];
    return operation === undefined ? undefined : { operation, form: "v1" };
  }
  if (pathname.startsWith("/v1/")) {
    const operation = POST_OPERATIONS[pathname.slice("/v1/".length)];
    return operation === undefined ? undefined : { operation, form: "openai" };
  }
  return undefined;
}

/** The operation name Azure puts in its 429 message. */
export function toOperationName(operation: Operation): string {
  switch (operation) {
    case "chat":
      return "ChatCompletions_Create";
    case "completions":
      return "Completions_Create";
    case "embeddings":
      return "Embeddings_Create";
    case "models":
      return "Models_List";
  }
}

/** The key a request carries: `api-key` for Azure forms, else a Bearer token (Entra ID or OpenAI key). */
export function readCredential(form: RouteForm, headers: Headers): string | undefined {
  const apiKey = form === "openai" ? null : headers.get("api-key");
  if (apiKey !== null) return apiKey;
  const authorization = headers.get("authorization");
  return authorization?.toLowerCase().startsWith("bearer ") ? authorization.slice("bearer ".length).trim() : undefined;
}

function withVersion(route: AzureRoute, apiVersion: string | undefined): AzureRoute {
  return apiVersion === undefined ? route : { ...route, apiVersion };
}

function decodeSegment(segment: string): string | undefined {
  try {
    const decoded = decodeURIComponent(segment);
    return decoded === "" || decoded.includes("/") ? undefined : decoded;
  } catch {
    return undefined;
  }
}

/** Path and query of an absolute request URL without building a URL object on the hot path. */
export function splitRequestUrl(url: string): { pathname: string; query: URLSearchParams } {
  const schemeEnd = url.indexOf("//");
  const pathStart = url.indexOf("/", schemeEnd < 0 ? 0 : schemeEnd + 2);
  if (pathStart < 0) return { pathname: "/", query: new URLSearchParams() };
  const queryStart = url.indexOf("?", pathStart);
  return queryStart < 0
    ? { pathname: url.slice(pathStart), query: new URLSearchParams() }
    : { pathname: url.slice(pathStart, queryStart), query: new URLSearchParams(url.slice(queryStart + 1)) };
}
