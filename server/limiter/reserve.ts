// The check-and-reserve decision across a client key and candidate instances, over windows passed in (twin of RESERVE_LUA).
import { EMPTY_USAGE, type InstanceUsage, type ReserveCommand, type ReserveReply } from "./store.ts";
import {
  advanceWindow,
  commitToWindow,
  fitsWindow,
  isLimited,
  retryAfterInWindow,
  usageOf,
  type SubjectWindow,
  type WindowParams,
} from "./window.ts";

export function reserveAcross(
  command: ReserveCommand,
  windowOf: (key: string) => SubjectWindow,
  nowMs: number,
  params: WindowParams,
): ReserveReply {
  const need = command.tokens;
  let clientWindow: SubjectWindow | null = null;
  let clientFits = true;
  let clientRetryMs = 0;
  if (command.client && isLimited(command.client.limits)) {
    clientWindow = windowOf(command.client.key);
    advanceWindow(clientWindow, nowMs, params);
    clientFits = fitsWindow(clientWindow, need, command.client.limits);
    if (!clientFits) clientRetryMs = retryAfterInWindow(clientWindow, need, command.client.limits, nowMs, params);
  }

  const instances: InstanceUsage[] = [];
  let chosen = -1;
  let chosenWindow: SubjectWindow | null = null;
  let instanceRetryMs = Infinity;
  for (const [index, spec] of command.instances.entries()) {
    if (!isLimited(spec.limits)) {
      instances.push(EMPTY_USAGE);
      chosen = index;
      break;
    }
    const window = windowOf(spec.key);
    advanceWindow(window, nowMs, params);
    if (fitsWindow(window, need, spec.limits)) {
      instances.push({ ...usageOf(window), retryAfterMs: 0 });
      chosen = index;
      chosenWindow = window;
      break;
    }
    const retryAfterMs = retryAfterInWindow(window, need, spec.limits, nowMs, params);
    instances.push({ ...usageOf(window), retryAfterMs });
    instanceRetryMs = Math.min(instanceRetryMs, retryAfterMs);
  }

  const clientUsage = clientWindow ? usageOf(clientWindow) : null;
  if (!clientFits || chosen < 0) {
    return {
      ok: false,
      blockedBy: clientFits ? "instance" : "client",
      retryAfterMs: Math.max(clientRetryMs, chosen >= 0 ? 0 : instanceRetryMs),
      nowMs,
      client: clientUsage,
      instances,
    };
  }
  let bucket = Math.floor(nowMs / params.bucketMs);
  if (clientWindow) bucket = commitToWindow(clientWindow, need, nowMs, params);
  if (chosenWindow) {
    bucket = commitToWindow(chosenWindow, need, nowMs, params);
    instances[chosen] = { ...usageOf(chosenWindow), retryAfterMs: 0 };
  }
  return { ok: true, chosen, bucket, nowMs, client: clientWindow ? usageOf(clientWindow) : null, instances };
}
