// The proxy's configurations the benchmark compares: as deployed (the baseline "proxy"), with the Redis limiter on
// the request path, and with statistics recording off. Each runs as its own process on the servers' core.
import { API_VERSION, SIMULATOR_API_KEY } from "./scenarios.ts";

export const VARIANTS = ["redis-limiter", "stats-off"] as const;
export type VariantName = (typeof VARIANTS)[number];

export const VARIANT_LABELS: Record<VariantName, string> = {
  "redis-limiter": "proxy, Redis limiter on",
  "stats-off": "proxy, stats recording off",
};

/** Limits no bench request comes near: every request takes the limiter's full path (one reserve), none is refused. */
const UNREACHABLE_LIMIT = 1_000_000_000;

/**
 * No client keys: auth is off, as the brief's baseline asks. Statistics stay on (as deployed) but each proxy
 * records into its own temp file (`${BENCH_STATS_DATABASE}`): the default data/stats.db would collect the
 * bench's rows in the checkout.
 */
export function proxyConfigYaml(simulatorUrl: string, variant: VariantName | "baseline", redisUrl: string | null): string {
  const limited = variant === "redis-limiter";
  if (limited && !redisUrl) throw new Error("the Redis limiter variant needs a Redis");
  return [
    'name: "bench"',
    variant === "stats-off" ? "stats: { enabled: false }" : 'stats: { database: "${BENCH_STATS_DATABASE}" }',
    ...(limited ? [`redis: { url: "${redisUrl}", key_prefix: "bench:" }`] : []),
    "instances:",
    '  - name: "simulator"',
    '    provider_type: "azure"',
    `    api_key: "${SIMULATOR_API_KEY}"`,
    `    api_base: "${simulatorUrl}"`,
    `    api_version: "${API_VERSION}"`,
    '    supported_models: ["gpt-4o", "text-embedding-3-small"]',
    ...(limited ? [`    max_tpm: ${UNREACHABLE_LIMIT}`, `    max_rpm: ${UNREACHABLE_LIMIT}`] : []),
    "",
  ].join("\n");
}
