// Applies the admin access rules to a request: token, session cookie, loopback rule, query-string refusal, throttle.
import { ProxyError } from "../errors.ts";
import {
  createAdminSessions,
  createFailureThrottle,
  decideAdminAccess,
  hasCredentialInQuery,
  presentedAdminToken,
  readCookie,
  tokensMatch,
  type AdminAccess,
} from "./access.ts";

export const SESSION_COOKIE = "aop_admin";
const SESSION_MAX_AGE_SEC = 43_200;
const FAILURES_PER_MINUTE = 10;

export type AdminAuth = {
  /** null: let the request through; otherwise the error to answer with. */
  authorize(request: Request, remoteAddress: string | null): ProxyError | null;
  /** POST /admin/login: the Set-Cookie header value for a new session, or the error. */
  login(presented: unknown, remoteAddress: string | null): { cookie: string } | { error: ProxyError };
  logout(request: Request): string;
  access(remoteAddress: string | null): AdminAccess;
};

/** Paths the admin rules cover; /admin/login is reachable so a browser can buy its session. */
export function isAdminPath(pathname: string): boolean {
  // The router forgives doubled and trailing slashes ("/metrics/", "//stats"); the guard must match what it routes.
  const path = pathname.includes("//") ? pathname.replace(/\/{2,}/g, "/") : pathname;
  return ADMIN_PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

const ADMIN_PREFIXES = ["/admin", "/stats", "/metrics"];

export function createAdminAuth(options: { token: string; environment: string | undefined; now: () => number }): AdminAuth {
  const { token } = options;
  const throttle = createFailureThrottle({ limit: FAILURES_PER_MINUTE, windowMs: 60_000, now: options.now });
  const sessions = createAdminSessions({ now: options.now, maxAgeSec: SESSION_MAX_AGE_SEC });
  const access = (remoteAddress: string | null) => decideAdminAccess({ token, environment: options.environment, remoteAddress });
  const addressKey = (remoteAddress: string | null) => remoteAddress ?? "unknown";

  const refusedByRule = (rule: AdminAccess): ProxyError | null => {
    if (rule === "disabled") {
      return new ProxyError("admin_disabled", "The admin API is disabled: no admin.token is configured (ENVIRONMENT=production).");
    }
    if (rule === "loopback_only") {
      return new ProxyError("admin_loopback_only", "No admin.token is configured: the admin API answers only on the loopback interface.");
    }
    return null;
  };
  const throttled = (address: string): ProxyError | null => {
    const waitMs = throttle.blockedForMs(address);
    if (waitMs === 0) return null;
    return new ProxyError("too_many_admin_attempts", "Too many failed admin authentications from this address; try again later.", {
      headers: { "retry-after": String(Math.ceil(waitMs / 1000)), "retry-after-ms": String(waitMs) },
    });
  };
  /** Only a wrong token counts towards the throttle: a stale session cookie (after a restart) is no guess. */
  const failed = (address: string, message: string, countsAsGuess = true): ProxyError => {
    if (countsAsGuess) throttle.noteFailure(address);
    return new ProxyError("invalid_admin_token", message);
  };
  const newSessionCookie = () => {
    const session = sessions.open();
    return `${SESSION_COOKIE}=${session.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${session.maxAgeSec}`;
  };

  return {
    access,
    authorize(request, remoteAddress) {
      const rule = access(remoteAddress);
      const refusal = refusedByRule(rule);
      if (refusal) return refusal;
      const address = addressKey(remoteAddress);
      const url = new URL(request.url);
      if (hasCredentialInQuery(url)) {
        return failed(address, "Credentials in the query string are refused; send the admin token in the Authorization header.", false);
      }
      if (rule === "open") return null;
      const blocked = throttled(address);
      if (blocked) return blocked;
      const presented = presentedAdminToken(request.headers);
      if (presented !== null) {
        if (!tokensMatch(presented, token)) return failed(address, "Incorrect admin token provided.");
        throttle.noteSuccess(address);
        return null;
      }
      const session = readCookie(request.headers, SESSION_COOKIE);
      if (session !== null && session !== "") {
        return sessions.isValid(session) ? null : failed(address, "The admin session has expired; log in again.", false);
      }
      return failed(address, "The admin API needs 'Authorization: Bearer <admin token>', 'x-admin-token', or a session from POST /admin/login.", false);
    },
    login(presented, remoteAddress) {
      const rule = access(remoteAddress);
      const refusal = refusedByRule(rule);
      if (refusal) return { error: refusal };
      if (rule === "open") return { cookie: newSessionCookie() };
      const address = addressKey(remoteAddress);
      const blocked = throttled(address);
      if (blocked) return { error: blocked };
      if (typeof presented !== "string" || !tokensMatch(presented, token)) return { error: failed(address, "Incorrect admin token provided.") };
      throttle.noteSuccess(address);
      return { cookie: newSessionCookie() };
    },
    logout(request) {
      const session = readCookie(request.headers, SESSION_COOKIE);
      if (session) sessions.close(session);
      return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
    },
  };
}
