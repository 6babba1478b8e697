// What the admin endpoints do, without HTTP: instance views, reset, runtime overrides (persisted), the config view, reload.
import { ConfigError } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { secretsOf } from "../config/secrets.ts";
import { formatProblem, type ConfigProblem } from "../config/validate.ts";
import { ProxyError } from "../errors.ts";
import type { Fleet } from "../fleet/fleet.ts";
import type { OverrideStore } from "../fleet/override-store.ts";
import { parseTunablesPatch, type TunablesPatch } from "../fleet/tunables.ts";
import type { HealthRegistry } from "../health/registry.ts";
import type { Limiter } from "../limiter/limiter.ts";
import type { Logger } from "../log.ts";
import type { LoadTracker } from "../routing/load.ts";
import { toConfigView } from "./config-view.ts";
import { redactSecrets, toInstanceView, type InstanceView } from "./views.ts";

export type AdminServiceDeps = {
  fleet: Fleet;
  health: HealthRegistry;
  load: LoadTracker;
  limiter: Limiter;
  store: OverrideStore;
  /** Tells the other replicas (Redis) after a local change; absent without Redis. */
  shareOverride?: (instance: string, patch: TunablesPatch | undefined) => void;
  /** Re-reads the YAML; absent when the app was built from an in-memory config. */
  loadConfig?: () => Promise<{ config: Readonly<Config>; files: string[] }>;
  files: readonly string[];
  logger: Logger;
  now: () => number;
};

/**
 * A reload applies these (the router, client auth, CORS and the views read them live); everything else is
 * read once at start — timeouts, retries, health policy, Redis, statistics — and needs a restart.
 */
const RELOADED = new Set([
  "name",
  "instances",
  "auth",
  "cors",
  "routing.strategy",
  "routing.models",
  "routing.fallbacks",
  "routing.context_window_fallbacks",
]);

export type AdminService = ReturnType<typeof createAdminService>;

export function createAdminService(deps: AdminServiceDeps) {
  const { fleet } = deps;
  let files = [...deps.files];
  let reloading: Promise<unknown> = Promise.resolve();

  const secrets = () => secretsOf(fleet.current());

  const view = (name: string): InstanceView | null => {
    const effective = fleet.instance(name);
    const file = fleet.fileInstance(name);
    if (!effective || !file) return null;
    const usage = deps.limiter.usage(effective);
    const hidden = secrets();
    return toInstanceView({
      file,
      effective,
      override: fleet.overrides().get(name),
      health: deps.health.get(name),
      load: deps.load.get(name),
      limiter: { tokens_used: usage.tokens, requests_used: usage.requests, utilisation: deps.limiter.utilisation(effective) },
      now: deps.now(),
      sanitize: (text) => redactSecrets(text, hidden),
    });
  };

  const existing = (name: string): InstanceView => {
    const found = view(name);
    if (!found) throw new ProxyError("instance_not_found", `The instance '${name}' is not configured on this proxy.`, { param: "name" });
    return found;
  };


  /** An override that cannot be stored is not applied: it would silently vanish at the next restart. */
  const persist = (action: string, name: string, write: () => void) => {
    try {
      write();
    } catch (error) {
      deps.logger.error("admin: runtime override could not be stored", { instance: name, action, error });
      throw new ProxyError("internal_error", "The override could not be stored; nothing was changed.", { cause: error });
    }
  };

  return {
    view,
    views: (): InstanceView[] => fleet.current().instances.flatMap((instance) => view(instance.name) ?? []),
    async reset(name: string): Promise<InstanceView> {
      existing(name);
      deps.health.record(name, { type: "reset" });
      const instance = fleet.instance(name);
      if (instance) {
        await deps.limiter.resetInstance(instance).catch((error: unknown) => {
          deps.logger.warn("admin reset: the limiter window could not be cleared in Redis", { instance: name, error });
        });
      }
      deps.logger.info("admin: instance reset", { instance: name });
      return existing(name);
    },
    putOverride(name: string, body: unknown): InstanceView {
      existing(name);
      const patch = parseTunablesPatch(body);
      // Fields merge into the instance's override, so setting one never silently drops another.
      const merged = { ...fleet.overrides().get(name), ...patch };
      persist("set", name, () => deps.store.save(name, merged, deps.now()));
      fleet.setOverride(name, merged);
      deps.shareOverride?.(name, merged);
      deps.logger.info("admin: runtime override set", { instance: name, override: merged });
      return existing(name);
    },
    deleteOverride(name: string): InstanceView {
      existing(name);
      persist("drop", name, () => deps.store.remove(name));
      fleet.setOverride(name, undefined);
      deps.shareOverride?.(name, undefined);
      deps.logger.info("admin: runtime override dropped", { instance: name });
      return existing(name);
    },
    config: () => toConfigView(fleet.current(), fleet.overrides(), files),
    /** Serialised: two reloads at once apply in order, each from a complete read of the files. */
    reload(): Promise<{ reloaded: true; instances: string[] }> {
      const run = reloading.then(async () => {
        if (!deps.loadConfig) throw new ProxyError("invalid_request", "This proxy was started without configuration files to reload.");
        let loaded;
        try {
          loaded = await deps.loadConfig();
        } catch (error) {
          if (error instanceof ConfigError) throw invalidConfig(error.problems);
          throw error;
        }
        const restartNeeded = changedSections(fleet.file(), loaded.config).filter((section) => !RELOADED.has(section));
        if (restartNeeded.length > 0) {
          deps.logger.warn("config reload: these sections changed but apply only after a restart", { sections: restartNeeded });
        }
        files = loaded.files;
        deps.logger.addSecrets(secretsOf(loaded.config));
        fleet.replaceFile(loaded.config);
        const instances = loaded.config.instances.map((instance) => instance.name);
        deps.logger.info("config reloaded", { instances, files });
        return { reloaded: true as const, instances };
      });
      reloading = run.catch(() => {});
      return run;
    },
  };
}

/** The same list `configuration rejected` prints at start, in the error body too. */
export class InvalidConfigError extends ProxyError {
  constructor(readonly problems: ConfigProblem[]) {
    super("invalid_config", `The configuration was rejected; the running one is kept. ${problems.map(formatProblem).join("; ")}`);
  }

  override toJSON() {
    const body = super.toJSON();
    return { error: { ...body.error, problems: this.problems } };
  }
}

function invalidConfig(problems: ConfigProblem[]): InvalidConfigError {
  return new InvalidConfigError(problems);
}

/** Top-level sections that changed, and for routing the keys within it (only some of them apply live). */
export function changedSections(before: Readonly<Config>, after: Readonly<Config>): string[] {
  const differs = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);
  return (Object.keys(after) as (keyof Config)[]).flatMap((key) => {
    if (!differs(before[key], after[key])) return [];
    if (key !== "routing") return [key];
    return (Object.keys(after.routing) as (keyof Config["routing"])[])
      .filter((field) => differs(before.routing[field], after.routing[field]))
      .map((field) => `routing.${field}`);
  });
}
