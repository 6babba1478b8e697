// Who may use the admin API (pure): the token rule, loopback-only without a token, constant-time comparison, throttling.
import { createHash, timingSafeEqual } from "node:crypto";

export type AdminAccess =
  /** A token is configured: the caller must present it (or a session it bought). */
  | "credentials"
  /** No token, loopback caller, not production: let through. */
  | "open"
  /** No token and not loopback: only the machine itself may administer. */
  | "loopback_only"
  /** No token in production: the admin API does not exist. */
  | "disabled";

export function decideAdminAccess(input: { token: string; environment: string | undefined; remoteAddress: string | null }): AdminAccess {
  if (input.token !== "") return "credentials";
  if (input.environment === "production") return "disabled";
  return input.remoteAddress !== null && isLoopback(input.remoteAddress) ? "open" : "loopback_only";
}

export function isLoopback(address: string): boolean {
  const plain = address.startsWith("::ffff:") ? address.slice(7) : address;
  return plain === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(plain);
}

/** Both sides hashed first, so the comparison takes the same time whatever the lengths. */
export function tokensMatch(presented: string, expected: string): boolean {
  if (expected === "") return false;
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token from `Authorization: Bearer` or `x-admin-token`; null when neither is sent. */
export function presentedAdminToken(headers: Headers): string | null {
  const header = headers.get("x-admin-token");
  if (header !== null && header.trim() !== "") return header.trim();
  const match = /^Bearer\s+(.+)$/i.exec(headers.get("authorization")?.trim() ?? "");
  return match?.[1]?.trim() ?? null;
}

/** Query parameters that look like a credential: refused, since URLs end up in logs and browser history. */
const CREDENTIAL_PARAMS = ["token", "admin_token", "access_token", "api_key", "api-key"];

export function hasCredentialInQuery(url: URL): boolean {
  return CREDENTIAL_PARAMS.some((name) => url.searchParams.has(name));
}

export type FailureThrottle = {
  /** Milliseconds until this address may try again; 0 when it may now. */
  blockedForMs(address: string): number;
  noteFailure(address: string): void;
  /** The right token forgives the address's earlier mistakes. */
  noteSuccess(address: string): void;
};

/**
 * Counts failed admin authentications per address in a sliding window. Bounded: at most `maxAddresses`
 * are remembered, the oldest forgotten first, so a spray of addresses cannot grow memory.
 */
export function createFailureThrottle(options: { limit: number; windowMs: number; now: () => number; maxAddresses?: number }): FailureThrottle {
  const failures = new Map<string, number[]>();
  const maxAddresses = options.maxAddresses ?? 10_000;
  const recent = (address: string): number[] => {
    const from = options.now() - options.windowMs;
    const kept = (failures.get(address) ?? []).filter((at) => at > from);
    if (kept.length === 0) failures.delete(address);
    else failures.set(address, kept);
    return kept;
  };
  return {
    blockedForMs(address) {
      const kept = recent(address);
      if (kept.length < options.limit) return 0;
      const oldest = kept[kept.length - options.limit] ?? options.now();
      return Math.max(1, oldest + options.windowMs - options.now());
    },
    noteFailure(address) {
      const kept = recent(address);
      kept.push(options.now());
      failures.delete(address);
      failures.set(address, kept.slice(-options.limit));
      if (failures.size > maxAddresses) {
        const oldest = failures.keys().next().value;
        if (oldest !== undefined) failures.delete(oldest);
      }
    },
    noteSuccess(address) {
      failures.delete(address);
    },
  };
}

export type AdminSessions = {
  open(): { id: string; maxAgeSec: number };
  isValid(id: string): boolean;
  close(id: string): void;
};

/** Browser sessions bought with the token at /admin/login; in memory, so a restart logs everyone out. */
export function createAdminSessions(options: { now: () => number; maxAgeSec: number; maxSessions?: number }): AdminSessions {
  const sessions = new Map<string, number>();
  const maxSessions = options.maxSessions ?? 1000;
  return {
    open() {
      const id = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
      sessions.set(id, options.now() + options.maxAgeSec * 1000);
      if (sessions.size > maxSessions) {
        const oldest = sessions.keys().next().value;
        if (oldest !== undefined) sessions.delete(oldest);
      }
      return { id, maxAgeSec: options.maxAgeSec };
    },
    isValid(id) {
      const expiresAt = sessions.get(id);
      if (expiresAt === undefined) return false;
      if (options.now() < expiresAt) return true;
      sessions.delete(id);
      return false;
    },
    close(id) {
      sessions.delete(id);
    },
  };
}

export function readCookie(headers: Headers, name: string): string | null {
  for (const part of (headers.get("cookie") ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return null;
}
