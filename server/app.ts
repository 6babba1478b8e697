// createApp(deps): composes the proxy's plugins over one configuration; tests build fresh apps with it.
import { Elysia } from "elysia";
import type { Config } from "./config/schema.ts";
import { errorPlugin } from "./http/error-plugin.ts";
import { createClientAuthenticator } from "./http/client-auth.ts";
import { methodGuard } from "./http/method-guard.ts";
import type { Logger } from "./log.ts";
import type { RequestRecord, RequestSettled } from "./proxy/request-record.ts";
import { nativeProxyRoutes, PROXY_ENDPOINTS, proxyRoutes } from "./proxy/routes.ts";
import { loadDashboardAssets } from "./dashboard/assets.ts";
import { dashboardRoutes } from "./dashboard/routes.ts";
import type { DashboardAsset } from "../dashboard/build.ts";
import { createEventBus, type EventBus } from "./events/bus.ts";
import { healthPolicyFrom } from "./health/policy.ts";
import { startHealthProber } from "./health/prober.ts";
import { createHealthRegistry } from "./health/registry.ts";
import { createLimiter } from "./limiter/limiter.ts";
import { startHealthSync } from "./health/redis-sync.ts";
import { createLoadTracker } from "./routing/load.ts";
import { createRetryBudget } from "./routing/retry-budget.ts";
import { createRouter } from "./routing/router.ts";
import { createAdmin } from "./admin/plugin.ts";
import { createFleet, followClientKeys, followLatest } from "./fleet/fleet.ts";
import { createMemoryOverrideStore, createSqliteOverrideStore } from "./fleet/override-store.ts";
import { proxyResponseHeaders, securityHeaders } from "./http/security-headers.ts";
import { createAppStats, type StatsDeps } from "./stats/app-stats.ts";
import { createLifecycle, type Lifecycle } from "./lifecycle.ts";
import { createAttemptWatch } from "./proxy/attempt-watch.ts";
import type { UpstreamClient } from "./upstream/client.ts";
import { createFetchUpstreamClient, type FetchFunction } from "./upstream/fetch-client.ts";
import { createSocketUpstreamClient } from "./upstream/socket-client.ts";

export type AppDeps = {
  config: Readonly<Config>;
  logger: Logger;
  /** Stands in for the network with a fetch-like function (tests); default: the socket client (see upstream/). */
  fetch?: FetchFunction;
  /** How upstream calls are made; main.ts passes the fetch client behind an HTTP(S)_PROXY. */
  upstream?: UpstreamClient;
  now?: () => number;
  random?: () => number;
  /** Called once per client request when it settles (after the last byte of a stream, or its abort). */
  onRequestSettled?: RequestSettled;
  bus?: EventBus;
  /** Statistics recorder and database; without it /metrics still works and /stats answers 503. */
  stats?: StatsDeps;
  /** Where the dashboard's files come from (default: embedded in the binary, or built from dashboard/ on first use). */
  loadDashboard?: () => Promise<DashboardAsset[]>;
  /** $ENVIRONMENT: "production" without admin.token disables the admin API. */
  environment?: string;
  /** Re-reads the configuration files (POST /admin/reload, SIGHUP, config.watch); without it reload answers 400. */
  loadConfig?: () => Promise<{ config: Readonly<Config>; files: string[] }>;
  configFiles?: readonly string[];
  /** Drain state for a graceful shutdown; main.ts owns it, tests may pass their own. */
  lifecycle?: Lifecycle;
};

/** How late a timeout may fire, or a departed client be noticed, while its upstream call is waiting. */
const ATTEMPT_SWEEP_MS = 50;
const PROXY_PATHS = PROXY_ENDPOINTS.map(({ path }) => ({ path, method: "POST" as const }));

export function createApp(deps: AppDeps) {
  const { config, logger } = deps;
  const now = deps.now ?? Date.now;
  const fetchUpstream = deps.fetch ?? fetch;
  const upstream = deps.upstream ?? (deps.fetch ? createFetchUpstreamClient(deps.fetch) : createSocketUpstreamClient());
  // Overrides live in the statistics database when there is one, so they survive a restart.
  const overrideStore = deps.stats?.db ? createSqliteOverrideStore(deps.stats.db) : createMemoryOverrideStore();
  const fleet = createFleet(config, overrideStore.load());
  // Views that always read the latest fleet: overrides and reloads reach routing without rebuilding the app.
  const table = followLatest(() => fleet.table());
  const bus = deps.bus ?? createEventBus();
  bus.subscribe((event) => {
    if (event.type === "instance_state") logger.warn("instance state changed", { ...event });
  });
  // With Redis, a 429 or an opened circuit seen by one replica keeps every replica off that instance.
  const healthSync = config.redis.url
    ? startHealthSync({
        url: config.redis.url,
        keyPrefix: config.redis.key_prefix,
        commandTimeoutMs: config.redis.command_timeout_ms,
        reconnectMaxDelayMs: config.redis.reconnect_max_delay_ms,
        instances: config.instances.map((instance) => instance.name),
        logger,
        now,
      })
    : null;
  const health = createHealthRegistry({ policy: healthPolicyFrom(config), now, bus, onChange: healthSync?.publish });
  healthSync?.attach(health);
  const load = createLoadTracker();
  const limiter = createLimiter({ config, logger, now });
  const router = createRouter({
    table,
    routing: followLatest(() => fleet.current().routing),
    health,
    load,
    headroom: (target, tokens) => limiter.headroom(target.instance, tokens),
    utilisation: (target) => limiter.utilisation(target.instance),
    random: deps.random ?? Math.random,
    now,
  });
  const startProber = () =>
    config.health_check.enabled
      ? startHealthProber({
          instances: fleet.current().instances,
          health,
          fetch: fetchUpstream,
          intervalMs: config.health_check.interval * 1000,
          timeoutMs: config.health_check.timeout * 1000,
        })
      : null;
  let prober = startProber();
  fleet.onChange(() => {
    prober?.stop();
    prober = startProber();
  });
  const admin = createAdmin({
    fleet,
    health,
    load,
    limiter,
    bus,
    store: overrideStore,
    loadConfig: deps.loadConfig,
    files: deps.configFiles,
    environment: deps.environment,
    logger,
    now,
  });
  const stats = createAppStats({
    config: followLatest(() => fleet.current()),
    models: table.models,
    stats: deps.stats,
    availability: health.availability,
    limiter: () => fleet.current().instances.map((instance) => ({ instance: instance.name, utilisation: limiter.utilisation(instance) })),
    logger,
    now,
  });
  const lifecycle = deps.lifecycle ?? createLifecycle();
  let closingShared: Promise<void> | undefined;
  // Elysia does not await onStop hooks; main.ts awaits this so Redis is closed before the process exits.
  const closeShared = () =>
    (closingShared ??= (async () => {
      prober?.stop();
      await admin.stop();
      await healthSync?.close();
      await limiter.close();
      upstream.close();
    })());
  const settle: RequestSettled = (record) => {
    logger.info("request", accessLogFields(record));
    stats.observe(record);
    admin.observe(record);
    deps.onRequestSettled?.(record);
  };
  const corsOrigins = () => fleet.current().cors.origins;
  const answerHeaders = (request: Request) => proxyResponseHeaders(request, corsOrigins);
  const proxy = proxyRoutes({
    table,
    answerHeaders,
    auth: followClientKeys(fleet, createClientAuthenticator),
    maxBodyBytes: config.limits.max_body_bytes,
    clientIdleTimeoutSec: config.limits.client_idle_timeout,
    limiter,
    logger,
    settle,
    forward: {
      upstream,
      now,
      settle,
      router,
      health,
      load,
      retryBudget: createRetryBudget(config.routing.retry_budget),
      limiter,
      maxAttempts: config.routing.retries + 1,
      timeoutMs: config.routing.timeout * 1000,
      firstTokenTimeoutMs: config.routing.first_token_timeout * 1000,
      streamIdleTimeoutMs: config.routing.stream_idle_timeout * 1000,
      stopSignal: lifecycle.stopSignal,
      watch: createAttemptWatch({ now, sweepMs: ATTEMPT_SWEEP_MS, stopSignal: lifecycle.stopSignal }),
    },
  });
  // The proxied endpoints are also Bun's own routes (they win over Elysia's for the same path); Elysia keeps serving
  // them through app.handle, a trailing slash, a preflight and a wrong verb.
  const nativeRoutes = nativeProxyRoutes(proxy.handle, answerHeaders, logger);
  return new Elysia({ serve: { routes: nativeRoutes } })
    .use(errorPlugin(logger))
    .use(securityHeaders({ corsOrigins }))
    .use(admin.guard)
    .get("/health", () => {
      if (lifecycle.draining) return drainingResponse(config.name);
      const statsState = stats.state();
      const limiterStatus = limiter.status();
      // Degraded still serves traffic: a load balancer should keep sending, an operator should look.
      const degraded = statsState === "degraded" || limiterStatus.degraded;
      return Response.json(
        {
          status: degraded ? "degraded" : "ok",
          name: fleet.current().name,
          instances: fleet.current().instances.filter((instance) => instance.enabled).length,
          stats: statsState,
          limiter: limiterStatus,
        },
        { headers: { "x-request-id": crypto.randomUUID(), "cache-control": "no-store" } },
      );
    })
    .use(proxy.plugin)
    .use(stats.routes)
    .use(dashboardRoutes({ load: deps.loadDashboard ?? loadDashboardAssets, logger }))
    .use(admin.routes)
    .use(methodGuard([...PROXY_PATHS, { path: "/v1/models", method: "GET" }]))
    .decorate("fleet", { health, load, router, bus, limiter, fleet, admin, closeShared })
    .onStop(closeShared);
}

export type App = ReturnType<typeof createApp>;

function drainingResponse(name: string): Response {
  return Response.json(
    { status: "draining", name },
    { status: 503, headers: { "x-request-id": crypto.randomUUID(), "cache-control": "no-store" } },
  );
}

/** One access line per request: names and numbers only, never a key. */
function accessLogFields(record: RequestRecord): Record<string, unknown> {
  return {
    requestId: record.requestId,
    key: record.clientName,
    model: record.model,
    endpoint: record.endpoint,
    stream: record.stream,
    instance: record.instance,
    status: record.status,
    code: record.errorCode,
    attempts: record.attempts,
    latencyMs: record.latencyMs,
    ttfbMs: record.ttfbMs,
    tokens: record.usage?.total_tokens ?? null,
    upstreamRequestId: record.upstreamRequestId,
    region: record.region,
  };
}
