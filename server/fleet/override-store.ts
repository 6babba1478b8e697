// Where runtime overrides are kept across restarts: the statistics SQLite file, or process memory without one.
import { eq } from "drizzle-orm";
import type { StatsDb } from "../db/client.ts";
import { instanceOverrides } from "../db/schema.ts";
import { readStoredPatch, type TunablesPatch } from "./tunables.ts";

export interface OverrideStore {
  readonly durable: boolean;
  load(): Map<string, TunablesPatch>;
  save(instance: string, patch: TunablesPatch, nowMs: number): void;
  remove(instance: string): void;
  /** Makes the stored set exactly this one (the shared set adopted from Redis). */
  replaceAll(overrides: ReadonlyMap<string, TunablesPatch>, nowMs: number): void;
}

export function createSqliteOverrideStore(db: StatsDb): OverrideStore {
  return {
    durable: true,
    load() {
      const overrides = new Map<string, TunablesPatch>();
      for (const row of db.select().from(instanceOverrides).all()) {
        const patch = readStoredPatch(row.settings);
        if (patch && Object.keys(patch).length > 0) overrides.set(row.instance, patch);
      }
      return overrides;
    },
    save(instance, patch, nowMs) {
      const settings = JSON.stringify(patch);
      db.insert(instanceOverrides)
        .values({ instance, settings, updatedAtMs: nowMs })
        .onConflictDoUpdate({ target: instanceOverrides.instance, set: { settings, updatedAtMs: nowMs } })
        .run();
    },
    remove(instance) {
      db.delete(instanceOverrides).where(eq(instanceOverrides.instance, instance)).run();
    },
    replaceAll(overrides, nowMs) {
      db.transaction((tx) => {
        tx.delete(instanceOverrides).run();
        for (const [instance, patch] of overrides) {
          tx.insert(instanceOverrides).values({ instance, settings: JSON.stringify(patch), updatedAtMs: nowMs }).run();
        }
      });
    },
  };
}

/** Without a statistics database overrides last until the process exits; the start-up log says so. */
export function createMemoryOverrideStore(): OverrideStore {
  const overrides = new Map<string, TunablesPatch>();
  return {
    durable: false,
    load: () => new Map(overrides),
    save: (instance, patch) => void overrides.set(instance, patch),
    remove: (instance) => void overrides.delete(instance),
    replaceAll(next) {
      overrides.clear();
      for (const [instance, patch] of next) overrides.set(instance, patch);
    },
  };
}
