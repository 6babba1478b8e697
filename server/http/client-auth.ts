// Identifies the calling client from its key: Bearer token (OpenAI SDKs) or api-key header (Azure SDKs).
import type { ClientKeyConfig } from "../config/schema.ts";

export type ClientIdentity = { name: string; rpm?: number; tpm?: number };

export type ClientAuthenticator = {
  /** False when no client keys are configured: every caller is let through anonymously. */
  readonly enabled: boolean;
  identify(headers: Headers): ClientIdentity | null;
};

/**
 * Keys are looked up by their SHA-256, so the time a lookup takes says nothing about how much of a
 * guessed key matched.
 */
export function createClientAuthenticator(keys: readonly ClientKeyConfig[]): ClientAuthenticator {
  const byDigest = new Map<string, ClientIdentity>();
  // Frozen: the limiter keeps what it derives from an identity for as long as the identity lives.
  for (const key of keys) byDigest.set(digest(key.key), Object.freeze({ name: key.name, rpm: key.rpm, tpm: key.tpm }));
  return {
    enabled: byDigest.size > 0,
    identify(headers) {
      const presented = presentedKey(headers);
      return presented === null ? null : (byDigest.get(digest(presented)) ?? null);
    },
  };
}

export function presentedKey(headers: Headers): string | null {
  const authorization = headers.get("authorization");
  if (authorization !== null) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (match?.[1]) return match[1].trim();
  }
  const apiKey = headers.get("api-key");
  return apiKey ? apiKey.trim() : null;
}

/** Runs on every authenticated request: Bun's one-shot SHA-256 takes a third of node:crypto's createHash time. */
function digest(key: string): string {
  return Bun.SHA256.hash(key, "base64");
}
