// The values in a configuration that must never be shown or logged: instance and client keys, the admin token, the Redis URL.
import type { Config } from "./schema.ts";

export function secretsOf(config: Readonly<Config>): string[] {
  return [
    ...config.instances.map((instance) => instance.api_key),
    ...config.auth.api_keys.map((key) => key.key),
    config.admin.token,
    config.redis.url,
    redisPassword(config.redis.url),
  ].filter((secret) => secret !== "");
}

/** A driver error may quote the password alone, without the rest of the URL. */
function redisPassword(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return "";
  }
}
