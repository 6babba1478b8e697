// Statistics as the app composes them: metrics and the recorder fed by each settled request, the routes, the /health word.
import type { Config } from "../config/schema.ts";
import type { StatsDb } from "../db/client.ts";
import type { Logger } from "../log.ts";
import type { RequestRecord } from "../proxy/request-record.ts";
import { createProxyMetrics, type InstanceGauge, type LimiterGauge } from "./metrics.ts";
import { createStatsQueries } from "./queries.ts";
import type { StatsRecorder } from "./recorder.ts";
import { statsRoutes } from "./routes.ts";

/** What main.ts (or a test) opened: the recorder that writes, and the database the endpoints read (null: none). */
export type StatsDeps = { recorder: StatsRecorder; db: StatsDb | null };

type Availability = { available: true } | { available: false; reason: string; until: number };

export type AppStatsOptions = {
  config: Readonly<Config>;
  models: readonly string[];
  stats: StatsDeps | undefined;
  availability: (instance: string) => Availability;
  limiter?: () => readonly LimiterGauge[];
  logger: Logger;
  now: () => number;
};

export function createAppStats(options: AppStatsOptions) {
  const { config, stats, logger, now } = options;
  const instances = (): InstanceGauge[] =>
    config.instances.map(({ name }) => {
      const availability = options.availability(name);
      const cooldownRemainingSec =
        availability.available || !Number.isFinite(availability.until) ? 0 : Math.max(0, (availability.until - now()) / 1000);
      return { instance: name, available: availability.available, cooldownRemainingSec };
    });
  const metrics = createProxyMetrics(new Set(options.models), {
    instances,
    ...(options.limiter ? { limiter: options.limiter } : {}),
    ...(stats ? { recorder: stats.recorder.status } : {}),
  });
  return {
    /** Never throws: statistics must not fail the request that fed them. */
    observe(record: RequestRecord): void {
      try {
        metrics.observe(record);
        stats?.recorder.record(record);
      } catch (error) {
        logger.error("recording statistics failed", { requestId: record.requestId, error });
      }
    },
    /** For /health: "degraded" while records cannot be written; requests are served regardless. */
    state(): "ok" | "degraded" | "disabled" {
      if (!stats) return "disabled";
      return stats.recorder.status().state;
    },
    routes: statsRoutes({
      queries: stats?.db ? createStatsQueries(stats.db) : null,
      metrics,
      instances: { has: (name) => config.instances.some((instance) => instance.name === name) },
      logger,
      now,
    }),
  };
}
