// The signed-in page: follows the event stream into the reducer, refreshes the fleet, and lays out the sections.
import { useEffect, useLayoutEffect, useMemo, useReducer, useRef } from "preact/hooks";
import { fetchInstances, followEvents, logout } from "../../api.ts";
import { useTick } from "../../lib/use-tick.ts";
import { reduceEvent } from "../../reduce.ts";
import { chartedNames } from "../../select.ts";
import { createInitialState } from "../../state.ts";
import { Fleet } from "../fleet/index.tsx";
import { LiveCharts } from "../live-charts/index.tsx";
import { RecentErrors } from "../recent-errors/index.tsx";
import { Usage } from "../usage/index.tsx";

/** Limiter windows and Azure's remaining-headers change with every request but raise no event; poll them. */
const FLEET_REFRESH_MS = 5000;

export function Dashboard({ name, onSignedOut }: { name: string; onSignedOut: () => void }) {
  const [state, dispatch] = useReducer(reduceEvent, undefined, createInitialState);
  useTick(1000);
  // Read at render, not at the last tick: a cooldown that just arrived must not show a second too many.
  const nowMs = Date.now();

  useEffect(() => {
    const stream = followEvents({
      onEvent: dispatch,
      onStatus: (status) => dispatch({ type: "connection", status }),
      onUnauthorized: onSignedOut,
    });
    return stream.close;
  }, []);

  useEffect(() => {
    let cancelled = false;
    const refresh = () => {
      if (document.visibilityState === "hidden") return;
      fetchInstances()
        .then((instances) => !cancelled && dispatch({ type: "fleet", instances }))
        .catch(() => {
          // The stream's reconnect logic notices a lost session or server; a missed refresh is harmless.
        });
    };
    if (state.fleetVersion > 0) refresh();
    const timer = setInterval(refresh, FLEET_REFRESH_MS);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [state.fleetVersion]);

  useMarkFirstFleet(state.instances.length > 0);

  const names = useMemo(() => chartedNames(state.instances, state.samples), [state.instances, state.samples]);
  // Charts and usage wait for the first snapshot: creating six charts and three stats queries before it
  // would hold up the fleet, the part an operator looks at first.
  const ready = state.connection !== "connecting";

  const signOut = async () => {
    await logout().catch(() => undefined);
    onSignedOut();
  };

  return (
    <div class="page">
      <header class="top">
        <h1>{name}</h1>
        <span class={`connection connection-${state.connection}`} data-role="connection">
          {state.connection === "live" ? "live" : state.connection === "connecting" ? "connecting…" : "reconnecting…"}
        </span>
        <button type="button" class="link" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        <section aria-labelledby="fleet-title">
          <h2 id="fleet-title">Fleet</h2>
          <Fleet instances={state.instances} samples={state.samples} names={names} nowMs={nowMs} onUpdated={(instance) => dispatch({ type: "instance", data: { at: Date.now(), instance } })} />
        </section>
        <section aria-labelledby="live-title">
          <h2 id="live-title">Last 10 minutes</h2>
          {ready ? <LiveCharts samples={state.samples} names={names} /> : <p class="muted">Connecting…</p>}
        </section>
        <div class="lower">
          <section aria-labelledby="errors-title">
            <h2 id="errors-title">Recent errors</h2>
            <RecentErrors errors={state.recentErrors} />
          </section>
          <section aria-labelledby="usage-title">
            <h2 id="usage-title">Usage</h2>
            {ready && <Usage />}
          </section>
        </div>
      </main>
    </div>
  );
}

/**
 * A performance mark when the fleet first shows: the "first meaningful paint" the browser test reads.
 * Set from the frame callback that follows the DOM commit, i.e. as the frame holding the cards is drawn.
 */
function useMarkFirstFleet(shown: boolean) {
  const marked = useRef(false);
  useLayoutEffect(() => {
    if (!shown || marked.current) return;
    marked.current = true;
    requestAnimationFrame(() => performance.mark("dashboard:fleet-painted"));
  }, [shown]);
}
