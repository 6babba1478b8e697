// Starts the real proxy app on a loopback port for a test, with a config built through the real validator.
import { createApp, type AppDeps } from "../../server/app.ts";
import { secretsOf } from "../../server/config/secrets.ts";
import { validateConfig } from "../../server/config/validate.ts";
import type { Config } from "../../server/config/schema.ts";
import { createLogger } from "../../server/log.ts";
import type { RequestRecord } from "../../server/proxy/request-record.ts";

export type TestProxy = AsyncDisposable & {
  url: string;
  port: number;
  records: RequestRecord[];
  logLines: string[];
  config: Readonly<Config>;
  /** Live routing state (health, load, router, event bus) of the app under test. */
  fleet: ReturnType<typeof createApp>["decorator"]["fleet"];
};

export type TestProxyOptions = Partial<Omit<AppDeps, "config" | "logger">> & {
  /** Raw YAML-shaped config; defaults are applied by the real schema. */
  config: Record<string, unknown>;
  logLevel?: "debug" | "info";
  /** Listen on this port instead of a free one (to restart a proxy where clients expect it). */
  port?: number;
};

export function buildConfig(raw: Record<string, unknown>): Readonly<Config> {
  const result = validateConfig(raw, [], () => "test-config");
  if (!result.ok) throw new Error(`test config invalid: ${JSON.stringify(result.problems)}`);
  return result.config;
}

export async function startProxy(options: TestProxyOptions): Promise<TestProxy> {
  const config = buildConfig(options.config);
  const logLines: string[] = [];
  const records: RequestRecord[] = [];
  const logger = createLogger({ level: options.logLevel ?? "debug", secrets: secretsOf(config), write: (line) => logLines.push(line) });
  const app = createApp({
    ...options,
    config,
    logger,
    onRequestSettled: (record) => {
      records.push(record);
      options.onRequestSettled?.(record);
    },
  });
  app.listen({ port: options.port ?? 0, hostname: "127.0.0.1", idleTimeout: config.limits.client_idle_timeout });
  const port = app.server?.port ?? 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    records,
    logLines,
    config,
    fleet: app.decorator.fleet,
    [Symbol.asyncDispose]: async () => {
      await app.stop(true);
    },
  };
}

/** A config with one Azure instance per upstream URL, in priority order. */
export function azureInstances(
  upstreams: ReadonlyArray<{ url: string; apiKey: string; name?: string; models?: string[] } & Record<string, unknown>>,
) {
  return upstreams.map(({ url, apiKey, name, models, ...rest }, index) => ({
    name: name ?? `azure-${index + 1}`,
    provider_type: "azure",
    api_key: apiKey,
    api_base: url,
    api_version: "2024-10-21",
    priority: index + 1,
    supported_models: models ?? ["gpt-4o", "gpt-35-turbo", "text-embedding-3-small"],
    ...rest,
  }));
}
