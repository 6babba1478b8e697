// The one error type clients see: every failure renders as OpenAI's {"error":{message,type,param,code}}.

/** Each code fixes its status and OpenAI error type, so no call site can pair them inconsistently. */
export const ERROR_CATALOG = {
  invalid_json: { status: 400, type: "invalid_request_error" },
  missing_required_parameter: { status: 400, type: "invalid_request_error" },
  invalid_type: { status: 400, type: "invalid_request_error" },
  invalid_request: { status: 400, type: "invalid_request_error" },
  tokens_exceed_limit: { status: 400, type: "invalid_request_error" },
  invalid_api_key: { status: 401, type: "invalid_request_error" },
  invalid_admin_token: { status: 401, type: "invalid_request_error" },
  admin_loopback_only: { status: 403, type: "invalid_request_error" },
  admin_disabled: { status: 404, type: "invalid_request_error" },
  invalid_config: { status: 400, type: "invalid_request_error" },
  too_many_admin_attempts: { status: 429, type: "rate_limit_error" },
  model_not_found: { status: 404, type: "invalid_request_error" },
  instance_not_found: { status: 404, type: "invalid_request_error" },
  not_found: { status: 404, type: "invalid_request_error" },
  method_not_allowed: { status: 405, type: "invalid_request_error" },
  request_timeout: { status: 408, type: "invalid_request_error" },
  request_too_large: { status: 413, type: "invalid_request_error" },
  rate_limit_exceeded: { status: 429, type: "rate_limit_error" },
  internal_error: { status: 500, type: "server_error" },
  upstream_unreachable: { status: 502, type: "upstream_error" },
  upstream_misconfigured: { status: 502, type: "upstream_error" },
  upstream_bad_response: { status: 502, type: "upstream_error" },
  no_instance_available: { status: 503, type: "server_error" },
  stats_unavailable: { status: 503, type: "server_error" },
  server_shutting_down: { status: 503, type: "server_error" },
  upstream_timeout: { status: 504, type: "timeout_error" },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export type ErrorBody = {
  error: { message: string; type: string; param: string | null; code: string };
};

export type ProxyErrorOptions = {
  param?: string | null;
  headers?: Record<string, string>;
  cause?: unknown;
};

export class ProxyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: ProxyErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "ProxyError";
    this.code = code;
    this.status = ERROR_CATALOG[code].status;
    this.type = ERROR_CATALOG[code].type;
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
  }

  toJSON(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  /** @param extraHeaders headers that belong to the request rather than the error (e.g. x-ratelimit-*) */
  toResponse(requestId: string, extraHeaders: Record<string, string> = {}): Response {
    return new Response(JSON.stringify(this.toJSON()), {
      status: this.status,
      headers: { ...extraHeaders, ...errorHeaders(this.status, requestId), ...this.headers },
    });
  }
}

/** The openai SDKs retry 408/409/429/5xx unless told not to; a retry cannot fix a caller's 4xx. */
export function shouldClientRetry(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

export function errorHeaders(status: number, requestId: string): Record<string, string> {
  return {
    "content-type": "application/json",
    "x-request-id": requestId,
    "x-should-retry": shouldClientRetry(status) ? "true" : "false",
    // Error answers can leave before any response hook runs (unknown paths, the admin guard): they carry these themselves.
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
  };
}

/** Anything that is not already a ProxyError becomes a generic 500: the original belongs in the log, never the body. */
export function toProxyError(error: unknown): ProxyError {
  if (error instanceof ProxyError) return error;
  return new ProxyError("internal_error", "The proxy failed to handle this request.", { cause: error });
}
