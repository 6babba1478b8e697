// Folds admin events (and the dashboard's own fetch results) into state. Pure: same state and event, same result.
import type { AdminEvent, InstanceView, RecentError } from "./contract.ts";
import { LIVE_WINDOW_MS, RECENT_ERRORS_KEPT, type ConnectionStatus, type DashboardState } from "./state.ts";

/** What the dashboard itself learns outside the event stream. */
export type LocalEvent =
  | { type: "connection"; status: ConnectionStatus }
  /** GET /admin/instances answered. */
  | { type: "fleet"; instances: InstanceView[] };

export type DashboardEvent = AdminEvent | LocalEvent;

export function reduceEvent(state: DashboardState, event: DashboardEvent): DashboardState {
  switch (event.type) {
    case "snapshot":
      // A (re)connection starts from the server's truth; chart history survives a short gap.
      return {
        ...state,
        connection: "live",
        instances: event.data.instances,
        recentErrors: newestErrors(event.data.recent_errors, []),
      };
    case "metrics": {
      const last = state.samples.at(-1);
      // A sample no newer than the last one is a replay after a reconnect: charts must not run backwards.
      if (last && event.data.at <= last.at) return state;
      const oldestKept = event.data.at - LIVE_WINDOW_MS;
      const samples = [...state.samples.filter((sample) => sample.at >= oldestKept), event.data];
      return { ...state, samples };
    }
    case "instance":
      return { ...state, instances: upsertInstance(state.instances, event.data.instance) };
    case "request_error":
      return { ...state, recentErrors: newestErrors([event.data], state.recentErrors) };
    case "config":
      return { ...state, fleetVersion: state.fleetVersion + 1 };
    case "connection":
      return event.status === state.connection ? state : { ...state, connection: event.status };
    case "fleet":
      return { ...state, instances: event.instances };
  }
}

function upsertInstance(instances: InstanceView[], view: InstanceView): InstanceView[] {
  const index = instances.findIndex((instance) => instance.name === view.name);
  if (index === -1) return [...instances, view];
  return instances.map((instance, i) => (i === index ? view : instance));
}

/** Merges, drops repeats (a snapshot after a reconnect resends what the list already has), keeps the newest few. */
function newestErrors(incoming: RecentError[], current: RecentError[]): RecentError[] {
  const seen = new Set<string>();
  return [...incoming, ...current]
    .sort((a, b) => b.at - a.at)
    .filter((error) => {
      if (seen.has(error.request_id)) return false;
      seen.add(error.request_id);
      return true;
    })
    .slice(0, RECENT_ERRORS_KEPT);
}
