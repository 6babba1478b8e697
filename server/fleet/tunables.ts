// The instance settings an operator may change at run time (pure): strict validation, applying overrides, drift.
import type { InstanceConfig } from "../config/schema.ts";
import { ProxyError } from "../errors.ts";

import type { Tunables } from "../admin/wire.ts";

export type { Tunables };
export type TunableField = keyof Tunables;
export type TunablesPatch = Partial<Tunables>;

export const TUNABLE_FIELDS: readonly TunableField[] = ["enabled", "weight", "priority", "max_tpm", "max_rpm"];

export function tunablesOf(instance: Readonly<InstanceConfig>): Tunables {
  return {
    enabled: instance.enabled,
    weight: instance.weight,
    priority: instance.priority,
    max_tpm: instance.max_tpm ?? null,
    max_rpm: instance.max_rpm ?? null,
  };
}

/** The instance as the fleet runs it: the file's values with the override on top (null limit: unlimited). */
export function applyOverride(instance: Readonly<InstanceConfig>, patch: TunablesPatch | undefined): Readonly<InstanceConfig> {
  if (!patch || Object.keys(patch).length === 0) return instance;
  const { max_tpm, max_rpm, ...rest } = { ...tunablesOf(instance), ...patch };
  const { max_tpm: _t, max_rpm: _r, ...base } = instance;
  return Object.freeze({
    ...base,
    ...rest,
    ...(max_tpm === null ? {} : { max_tpm }),
    ...(max_rpm === null ? {} : { max_rpm }),
  });
}

/** Fields whose effective value differs from the file's. */
export function driftOf(file: Tunables, effective: Tunables): TunableField[] {
  return TUNABLE_FIELDS.filter((field) => file[field] !== effective[field]);
}

/**
 * Reads a PUT body strictly: only the five fields, each of the right type and range; anything else is a 400
 * naming the field, so a typo never silently does nothing.
 */
export function parseTunablesPatch(body: unknown): TunablesPatch {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new ProxyError("invalid_request", "The body must be a JSON object with any of: enabled, weight, priority, max_tpm, max_rpm.");
  }
  const entries = Object.entries(body);
  if (entries.length === 0) {
    throw new ProxyError("invalid_request", "The body sets nothing; send any of enabled, weight, priority, max_tpm, max_rpm (DELETE drops the override).");
  }
  const patch: TunablesPatch = {};
  for (const [field, value] of entries) {
    switch (field) {
      case "enabled":
        if (typeof value !== "boolean") throw invalidField(field, "must be true or false");
        patch.enabled = value;
        break;
      case "weight":
        if (!isFiniteNumber(value) || value < 0) throw invalidField(field, "must be a finite number ≥ 0");
        patch.weight = value;
        break;
      case "priority":
        if (!Number.isSafeInteger(value) || (value as number) < 0) throw invalidField(field, "must be an integer ≥ 0");
        patch.priority = value as number;
        break;
      case "max_tpm":
      case "max_rpm":
        if (value !== null && (!Number.isSafeInteger(value) || (value as number) < 1)) {
          throw invalidField(field, "must be an integer ≥ 1, or null for no limit");
        }
        patch[field] = value as number | null;
        break;
      default:
        throw invalidField(field, "is not a setting that can be changed at run time (allowed: enabled, weight, priority, max_tpm, max_rpm)");
    }
  }
  return patch;
}

/** Reads an override stored earlier (SQLite, Redis): fields that no longer validate are dropped, not fatal. */
export function readStoredPatch(text: string): TunablesPatch | null {
  try {
    const raw: unknown = JSON.parse(text);
    if (raw === null || typeof raw !== "object") return null;
    const patch: TunablesPatch = {};
    for (const [field, value] of Object.entries(raw)) {
      try {
        Object.assign(patch, parseTunablesPatch({ [field]: value }));
      } catch {
        // An unknown or invalid stored field is ignored; the rest still applies.
      }
    }
    return patch;
  } catch {
    return null;
  }
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function invalidField(field: string, reason: string): ProxyError {
  return new ProxyError("invalid_request", `'${field}' ${reason}.`, { param: field });
}
