// The LimiterStore contract: one atomic check-and-reserve across a client key and candidate instances, and adjustments after.
import type { BucketCount, Limits, WindowUsage } from "./window.ts";

/** One limited thing: its store key and its limits per window. */
export type SubjectSpec = { key: string; limits: Limits };

export type ReserveCommand = {
  /** The client key's limits; null when the caller is not limited. */
  client: SubjectSpec | null;
  /** Candidate instances in order of preference: the first with room (together with the client) is reserved. */
  instances: readonly SubjectSpec[];
  /** Tokens to reserve; one request is always reserved with them. */
  tokens: number;
};

export type ReserveReply =
  | {
      ok: true;
      /** Index into `instances` of the one reserved. */
      chosen: number;
      /** The bucket the reservation was counted in: adjustments name it. */
      bucket: number;
      /** The store's clock at the reservation (Redis TIME for the Redis store). */
      nowMs: number;
      /** The client's usage after the reservation. */
      client: WindowUsage | null;
      /** Each instance checked, in order, up to the chosen one (after its reservation); unlimited ones read as empty. */
      instances: InstanceUsage[];
    }
  | {
      ok: false;
      blockedBy: "client" | "instance";
      /** When enough capacity frees, if nothing else is reserved meanwhile; Infinity when it never can. */
      retryAfterMs: number;
      nowMs: number;
      client: WindowUsage | null;
      instances: InstanceUsage[];
    };

/** An instance's usage as the reservation saw it, and how long until this request would have fit there (0: it did). */
export type InstanceUsage = WindowUsage & { retryAfterMs: number };

export type AdjustCommand = {
  keys: readonly string[];
  bucket: number;
  /** Added to the reservation's bucket: the token difference to actual usage, or minus everything for a refund. */
  delta: BucketCount;
};

export interface LimiterStore {
  readonly kind: "memory" | "redis";
  /** All-or-nothing: either the client and one instance are both charged, or nothing is. */
  reserve(command: ReserveCommand): Promise<ReserveReply>;
  adjust(command: AdjustCommand): Promise<void>;
  /** Forgets everything counted for these keys (an operator's reset of an instance). */
  clear(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export const EMPTY_USAGE: InstanceUsage = Object.freeze({ tokens: 0, requests: 0, last: -1, retryAfterMs: 0 });
