// Every secret a configuration holds, so the logger can remove them wherever they would appear.
import type { Config } from "./schema.ts";

export function secretsOf(config: Readonly<Config>): string[] {
  const secrets = [
    ...config.instances.map((instance) => instance.api_key),
    ...config.auth.api_keys.map((key) => key.key),
    config.admin.token,
    config.redis.url,
    ...redisUrlSecrets(config.redis.url),
  ].filter((secret) => secret !== "");
  return [...new Set(secrets)];
}

/** A redis URL's password can surface on its own, e.g. in a client's error message. */
function redisUrlSecrets(url: string): string[] {
  if (url === "") return [];
  try {
    const parsed = new URL(url);
    return [parsed.password, safeDecode(parsed.password)];
  } catch {
    return [];
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
