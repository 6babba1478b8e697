// The effective configuration as GET /admin/config shows it (pure): every secret masked, each tunable's source named.
import type { Config } from "../config/schema.ts";
import { TUNABLE_FIELDS, type TunableField, type TunablesPatch } from "../fleet/tunables.ts";
import { maskSecret } from "./views.ts";

export function toConfigView(effective: Readonly<Config>, overrides: ReadonlyMap<string, TunablesPatch>, files: readonly string[]) {
  return {
    files: [...files],
    config: {
      ...effective,
      admin: { token: effective.admin.token === "" ? "" : "(set)" },
      redis: { ...effective.redis, url: maskRedisUrl(effective.redis.url) },
      auth: { api_keys: effective.auth.api_keys.map(({ key, ...rest }) => ({ ...rest, key_masked: maskSecret(key) })) },
      instances: effective.instances.map(({ api_key, ...instance }) => {
        const override = overrides.get(instance.name) ?? {};
        const sources = Object.fromEntries(
          TUNABLE_FIELDS.map((field) => [field, field in override ? "override" : "file"]),
        ) as Record<TunableField, "file" | "override">;
        return { ...instance, api_key_masked: maskSecret(api_key), sources };
      }),
    },
  };
}

/** Host and database stay visible (they say where state lives); user and password never do. */
export function maskRedisUrl(url: string): string {
  if (url === "") return "";
  try {
    const parsed = new URL(url);
    if (parsed.username !== "") parsed.username = "****";
    if (parsed.password !== "") parsed.password = "****";
    return parsed.toString();
  } catch {
    return "(set)";
  }
}
