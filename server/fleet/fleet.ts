// The fleet as it runs now: the file configuration (replaced by a reload) with runtime overrides on top, and its target table.
import { secretsOf } from "../config/secrets.ts";
import type { Config, InstanceConfig } from "../config/schema.ts";
import { buildTargetTable, type TargetTable } from "../routing/targets.ts";
import { applyOverride, type TunablesPatch } from "./tunables.ts";

export type FleetChange = { reason: "override" | "reload"; instances: string[] };

export type Fleet = {
  /** The configuration as the YAML says (the latest successful load). */
  file(): Readonly<Config>;
  /** The file configuration with every override applied to its instances. */
  current(): Readonly<Config>;
  /** Rebuilt on every change; a request keeps the table (and targets) it planned with. */
  table(): TargetTable;
  fileInstance(name: string): Readonly<InstanceConfig> | undefined;
  instance(name: string): Readonly<InstanceConfig> | undefined;
  overrides(): ReadonlyMap<string, TunablesPatch>;
  /** Replaces one instance's override (undefined drops it). */
  setOverride(name: string, patch: TunablesPatch | undefined): void;
  /** Replaces every override at once (another replica's set, read from Redis). */
  replaceOverrides(overrides: ReadonlyMap<string, TunablesPatch>): void;
  replaceFile(config: Readonly<Config>): void;
  onChange(listener: (change: FleetChange) => void): () => void;
};

export function createFleet(initial: Readonly<Config>, overrides: ReadonlyMap<string, TunablesPatch> = new Map()): Fleet {
  let file = initial;
  let patches = new Map(overrides);
  let current = effectiveConfig(file, patches);
  let table = buildTargetTable(current, secretsOf(current));
  const listeners = new Set<(change: FleetChange) => void>();

  const rebuild = (change: FleetChange) => {
    current = effectiveConfig(file, patches);
    table = buildTargetTable(current, secretsOf(current));
    for (const listener of listeners) {
      try {
        listener(change);
      } catch {
        // A listener's failure must not leave the others with a stale fleet.
      }
    }
  };

  return {
    file: () => file,
    current: () => current,
    table: () => table,
    fileInstance: (name) => file.instances.find((instance) => instance.name === name),
    instance: (name) => current.instances.find((instance) => instance.name === name),
    overrides: () => patches,
    setOverride(name, patch) {
      if (patch === undefined) patches.delete(name);
      else patches.set(name, patch);
      rebuild({ reason: "override", instances: [name] });
    },
    replaceOverrides(next) {
      const changed = [...new Set([...patches.keys(), ...next.keys()])].filter(
        (name) => JSON.stringify(patches.get(name)) !== JSON.stringify(next.get(name)),
      );
      if (changed.length === 0) return;
      patches = new Map(next);
      rebuild({ reason: "override", instances: changed });
    },
    replaceFile(config) {
      file = config;
      rebuild({ reason: "reload", instances: config.instances.map((instance) => instance.name) });
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

function effectiveConfig(file: Readonly<Config>, patches: ReadonlyMap<string, TunablesPatch>): Readonly<Config> {
  if (patches.size === 0) return file;
  return Object.freeze({ ...file, instances: file.instances.map((instance) => applyOverride(instance, patches.get(instance.name))) });
}

/**
 * An object whose properties always read the fleet's latest value: modules that took a table or a routing
 * section once (the router, the proxy routes) follow reloads and overrides without knowing about them.
 */
export function followLatest<T extends object>(latest: () => T): T {
  const view = {} as T;
  for (const key of Object.keys(latest()) as (keyof T)[]) {
    Object.defineProperty(view, key, { get: () => latest()[key], enumerable: true });
  }
  return view;
}

/** The client authenticator for the keys the latest reload brought (a key removed from the file stops working). */
export function followClientKeys<Authenticator extends object>(
  fleet: Fleet,
  create: (keys: Config["auth"]["api_keys"]) => Authenticator,
): Authenticator {
  let current = create(fleet.current().auth.api_keys);
  fleet.onChange((change) => {
    if (change.reason === "reload") current = create(fleet.current().auth.api_keys);
  });
  return followLatest(() => current);
}
