// Active health checks: every interval, a cheap authenticated GET per instance (Azure's models list costs no tokens).
import type { InstanceConfig } from "../config/schema.ts";
import { toAuthHeader, toProbeUrl } from "../providers/azure/url.ts";
import type { HealthRegistry } from "./registry.ts";

export type HealthProberOptions = {
  instances: readonly Readonly<InstanceConfig>[];
  health: HealthRegistry;
  fetch: (url: string, init: RequestInit) => Promise<Response>;
  intervalMs: number;
  timeoutMs: number;
};

export type HealthProber = { probeAll(): Promise<void>; stop(): void };

export function startHealthProber(options: HealthProberOptions): HealthProber {
  const targets = options.instances
    .filter((instance) => instance.enabled)
    .map((instance) => ({ name: instance.name, url: toProbeUrl(instance), auth: toAuthHeader(instance) }));
  let running = false;

  const probeOne = async (target: (typeof targets)[number]): Promise<void> => {
    try {
      const response = await options.fetch(target.url, {
        method: "GET",
        headers: { [target.auth[0]]: target.auth[1] },
        signal: AbortSignal.timeout(options.timeoutMs),
        redirect: "manual",
      });
      await response.arrayBuffer().catch(() => undefined);
      // A throttled instance is alive; a 401/404 means this instance cannot serve anything.
      const ok = response.ok || response.status === 429;
      options.health.record(target.name, { type: "probe", ok, detail: ok ? undefined : `probe answered ${response.status}` });
    } catch {
      options.health.record(target.name, { type: "probe", ok: false, detail: "probe failed to connect or timed out" });
    }
  };

  const probeAll = async () => {
    if (running) return;
    running = true;
    try {
      await Promise.all(targets.map(probeOne));
    } finally {
      running = false;
    }
  };

  const timer = setInterval(() => void probeAll(), options.intervalMs);
  timer.unref();
  return { probeAll, stop: () => clearInterval(timer) };
}
