// The dashboard's only I/O: admin and stats calls over fetch (session cookie), and the live event stream with reconnect.
import { ADMIN_EVENT_TYPES, type AdminEvent, type InstanceView, type StatsSummary, type Tunables, type UsageSeries } from "./contract.ts";
import { reconnectDelayMs } from "./lib/backoff.ts";
import type { ConnectionStatus } from "./state.ts";

/** An admin or stats call that did not answer 2xx; `message` is the server's own when it sent OpenAI-shaped JSON. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? { accept: "application/json" } : { accept: "application/json", "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await toApiError(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

async function toApiError(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown; code?: unknown } };
    const message = typeof parsed.error?.message === "string" ? parsed.error.message : `HTTP ${response.status}`;
    return new ApiError(response.status, typeof parsed.error?.code === "string" ? parsed.error.code : null, message);
  } catch {
    return new ApiError(response.status, null, `HTTP ${response.status}`);
  }
}

export type Session = { name: string };

/** The current session, or null when the server wants a login. */
export async function fetchSession(): Promise<Session | null> {
  try {
    const session = await call<{ authenticated: boolean; name: string }>("GET", "/admin/session");
    return session.authenticated ? { name: session.name } : null;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

export const login = (token: string) => call<void>("POST", "/admin/login", { token });
export const logout = () => call<void>("POST", "/admin/logout");
export const fetchInstances = () => call<{ instances: InstanceView[] }>("GET", "/admin/instances").then((body) => body.instances);
export const updateInstance = (name: string, patch: Partial<Tunables>) =>
  call<InstanceView>("PUT", `/admin/instances/${encodeURIComponent(name)}/config`, patch);
export const clearOverrides = (name: string) => call<InstanceView>("DELETE", `/admin/instances/${encodeURIComponent(name)}/config`);
export const resetInstance = (name: string) => call<InstanceView>("POST", `/admin/instances/${encodeURIComponent(name)}/reset`);
export const fetchStats = (windowMinutes: number) => call<StatsSummary>("GET", `/stats/?window=${windowMinutes}`);
export const fetchUsage = (metric: "tokens" | "requests", windowMinutes: number) =>
  call<UsageSeries>("GET", `/stats/usage?metric=${metric}&window=${windowMinutes}`);

export type EventStreamHandlers = {
  onEvent: (event: AdminEvent) => void;
  onStatus: (status: ConnectionStatus) => void;
  /** The stream failed and the session is gone: reconnecting would only fail again. */
  onUnauthorized: () => void;
};

/**
 * Follows /admin/events. EventSource's own retry has a fixed delay and cannot see a 401, so on any error
 * this closes it, checks the session, and reconnects with a growing delay; every new connection begins
 * with a snapshot, which resyncs the state.
 */
export function followEvents(handlers: EventStreamHandlers): { close: () => void } {
  let source: EventSource | null = null;
  let failures = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const open = () => {
    if (closed) return;
    handlers.onStatus(failures === 0 ? "connecting" : "reconnecting");
    const current = new EventSource("/admin/events", { withCredentials: true });
    source = current;
    for (const type of ADMIN_EVENT_TYPES) {
      current.addEventListener(type, (message) => {
        if (type === "snapshot") failures = 0;
        handlers.onEvent({ type, data: JSON.parse((message as MessageEvent<string>).data) } as AdminEvent);
      });
    }
    current.onerror = () => {
      current.close();
      if (closed || source !== current) return;
      source = null;
      handlers.onStatus("reconnecting");
      void fetchSession()
        .then((session) => (session ? "retry" : "unauthorized"))
        .catch(() => "retry")
        .then((next) => {
          if (closed) return;
          if (next === "unauthorized") return handlers.onUnauthorized();
          timer = setTimeout(open, reconnectDelayMs(failures++));
        });
    };
  };

  open();
  return {
    close: () => {
      closed = true;
      clearTimeout(timer);
      source?.close();
    },
  };
}
