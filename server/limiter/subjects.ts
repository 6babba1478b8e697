// Who is limited and by how much: store keys and limits for instances and client keys, and the "can never fit" check.
import type { SubjectSpec } from "./store.ts";
import { isLimited, type Limits } from "./window.ts";

/** The limiter reads only these fields, so a configured instance (or a routing target's instance) passes as is. */
export type LimitedInstance = { readonly name: string; readonly max_tpm?: number; readonly max_rpm?: number };
/** Same for a client key (the request context's identity). */
export type LimitedClient = { readonly name: string; readonly tpm?: number; readonly rpm?: number };

// One hash tag for every limiter key: a reservation touches a client key and an instance in one script, and a
// Redis Cluster only runs a script whose keys share a slot. (Per-subject tags would spread load but break atomicity.)
const HASH_TAG = "{limiter}";

function instanceLimits(instance: LimitedInstance): Limits {
  return { tokenLimit: instance.max_tpm ?? null, requestLimit: instance.max_rpm ?? null };
}

function clientLimits(client: LimitedClient): Limits {
  return { tokenLimit: client.tpm ?? null, requestLimit: client.rpm ?? null };
}

// Configured instances and client keys are frozen and live as long as their config: a spec is built once for each
// (frozen too, as every request shares it), and the request path, which asks for it several times per request,
// neither concatenates its key again nor makes the snapshot maps hash a new string.
const instanceSpecs = new WeakMap<LimitedInstance, SubjectSpec>();
const clientSpecs = new WeakMap<LimitedClient, SubjectSpec | null>();

export function instanceSpec(instance: LimitedInstance): SubjectSpec {
  let spec = instanceSpecs.get(instance);
  if (spec === undefined) {
    spec = Object.freeze({ key: `${HASH_TAG}:instance:${instance.name}`, limits: Object.freeze(instanceLimits(instance)) });
    if (Object.isFrozen(instance)) instanceSpecs.set(instance, spec);
  }
  return spec;
}

/** Null for an anonymous caller or a key without limits: nothing to count. */
export function clientSpec(client: LimitedClient | null): SubjectSpec | null {
  if (!client) return null;
  let spec = clientSpecs.get(client);
  if (spec === undefined) {
    const limits = clientLimits(client);
    spec = isLimited(limits) ? Object.freeze({ key: `${HASH_TAG}:client:${client.name}`, limits: Object.freeze(limits) }) : null;
    if (Object.isFrozen(client)) clientSpecs.set(client, spec);
  }
  return spec;
}

export type FitCheck =
  | { ok: true }
  | {
      ok: false;
      scope: "instance" | "client";
      /** The largest token limit that applies: the request needs more than this per window. */
      limitTokens: number;
      /** For a 400 `invalid_request` to the caller: names no instance. */
      message: string;
    };

/**
 * A request whose estimate exceeds the client's tpm, or every candidate's max_tpm, would wait for a window that
 * never comes: the caller should answer 400 at once instead of 429 with a Retry-After.
 */
export function checkCouldEverFit(input: {
  tokens: number;
  instances: readonly LimitedInstance[];
  client: LimitedClient | null;
}): FitCheck {
  const { tokens, client } = input;
  if (client?.tpm !== undefined && tokens > client.tpm) {
    return {
      ok: false,
      scope: "client",
      limitTokens: client.tpm,
      message:
        `This request needs an estimated ${tokens} tokens (prompt plus max_tokens), more than the ${client.tpm} ` +
        "tokens per minute your API key allows. Shorten the prompt or lower max_tokens.",
    };
  }
  let largest = 0;
  for (const instance of input.instances) {
    if (instance.max_tpm === undefined || tokens <= instance.max_tpm) return { ok: true };
    largest = Math.max(largest, instance.max_tpm);
  }
  if (input.instances.length === 0) return { ok: true };
  return {
    ok: false,
    scope: "instance",
    limitTokens: largest,
    message:
      `This request needs an estimated ${tokens} tokens (prompt plus max_tokens), more than any deployment of this ` +
      `model accepts per minute (at most ${largest}). Shorten the prompt or lower max_tokens.`,
  };
}
