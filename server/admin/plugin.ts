// Assembles the admin side of the app: auth, the service over the live fleet, the event hub, and their routes.
import type { Config } from "../config/schema.ts";
import type { EventBus } from "../events/bus.ts";
import type { Fleet } from "../fleet/fleet.ts";
import type { OverrideStore } from "../fleet/override-store.ts";
import { startOverrideSync } from "../fleet/override-sync.ts";
import type { HealthRegistry } from "../health/registry.ts";
import type { Limiter } from "../limiter/limiter.ts";
import type { Logger } from "../log.ts";
import type { RequestRecord } from "../proxy/request-record.ts";
import type { LoadTracker } from "../routing/load.ts";
import { createAdminAuth } from "./auth.ts";
import { createEventHub } from "./event-hub.ts";
import { adminGuard } from "./guard.ts";
import { createLiveMetrics } from "./live-metrics.ts";
import { adminRoutes } from "./routes.ts";
import { createAdminService } from "./service.ts";

export type AdminDeps = {
  fleet: Fleet;
  health: HealthRegistry;
  load: LoadTracker;
  limiter: Limiter;
  bus: EventBus;
  store: OverrideStore;
  loadConfig?: () => Promise<{ config: Readonly<Config>; files: string[] }>;
  files?: readonly string[];
  environment: string | undefined;
  logger: Logger;
  now: () => number;
};

export function createAdmin(deps: AdminDeps) {
  const { fleet, bus, logger, now } = deps;
  const token = fleet.file().admin.token;
  const auth = createAdminAuth({ token, environment: deps.environment, now });
  const { store } = deps;
  // With Redis, an override set on any replica reaches every replica; SQLite keeps this replica's copy for restarts.
  const redis = fleet.file().redis;
  const sync = redis.url
    ? startOverrideSync({
        redis,
        logger,
        local: () => fleet.overrides(),
        adoptAll(overrides) {
          store.replaceAll(overrides, now());
          fleet.replaceOverrides(overrides);
        },
        adopt(instance, patch) {
          if (patch === undefined) store.remove(instance);
          else store.save(instance, patch, now());
          fleet.setOverride(instance, patch);
        },
      })
    : null;
  const service = createAdminService({ ...deps, files: deps.files ?? [], ...(sync ? { shareOverride: sync.publish } : {}) });
  const metrics = createLiveMetrics();
  const live = (name: string) => {
    const instance = fleet.instance(name);
    return { utilisation: instance ? deps.limiter.utilisation(instance) : 0, in_flight: deps.load.get(name).inFlight };
  };
  const names = () => fleet.current().instances.map((instance) => instance.name);
  const hub = createEventHub({ bus, metrics, views: service.views, view: service.view, names, live, now });
  const stopFleetEvents = fleet.onChange((change) => bus.publish({ type: "fleet_changed", at: now(), ...change }));

  const rule = auth.access(null);
  if (!store.durable && rule !== "disabled") logger.warn("no statistics database: runtime overrides last only until the process exits");
  if (rule === "disabled") logger.warn("admin API disabled: no admin.token configured and ENVIRONMENT=production");
  else if (rule !== "credentials") logger.warn("no admin.token configured: the admin API, /stats and /metrics answer only to loopback clients");

  return {
    guard: adminGuard(auth),
    routes: adminRoutes({ auth, service, hub, name: () => fleet.current().name, logger }),
    service,
    hub,
    /** Feeds the live metrics and the request_error events from each settled request. */
    observe(record: RequestRecord): void {
      metrics.observe(record);
      if (record.status >= 400) {
        bus.publish({
          type: "request_error",
          at: now(),
          model: record.model,
          instance: record.instance,
          status: record.status,
          code: record.errorCode,
          request_id: record.requestId,
        });
      }
    },
    async stop(): Promise<void> {
      stopFleetEvents();
      hub.stop();
      await sync?.close();
    },
  };
}
