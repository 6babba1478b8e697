// The dashboard's whole state and its starting value; reduce.ts is the only thing that changes it.
import type { InstanceView, MetricsSample, RecentError } from "./contract.ts";

/** Charts keep this much history; older samples roll off. */
export const LIVE_WINDOW_MS = 10 * 60_000;
/** The recent-errors list stays short: it is for noticing, the stats API is for counting. */
export const RECENT_ERRORS_KEPT = 15;

export type ConnectionStatus = "connecting" | "live" | "reconnecting";

export type DashboardState = {
  connection: ConnectionStatus;
  /** In the server's order; replaced whole by a snapshot or a fleet fetch, one at a time by `instance` events. */
  instances: InstanceView[];
  /** One per `metrics` frame, oldest first, none older than LIVE_WINDOW_MS before the newest. */
  samples: MetricsSample[];
  /** Newest first. */
  recentErrors: RecentError[];
  /** Bumped when the fleet changed in a way only a fresh GET /admin/instances shows (a reload adds or drops instances). */
  fleetVersion: number;
};

export function createInitialState(): DashboardState {
  return { connection: "connecting", instances: [], samples: [], recentErrors: [], fleetVersion: 0 };
}
