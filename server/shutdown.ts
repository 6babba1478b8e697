// The graceful stop: refuse new connections, let in-flight requests finish until the drain deadline, then end open streams.
import type { Lifecycle } from "./lifecycle.ts";
import type { Logger } from "./log.ts";

/** The part of Bun's server the drain needs. */
export type StoppableServer = { stop(closeActiveConnections?: boolean): Promise<void>; readonly pendingRequests: number };

export type DrainOptions = {
  server: StoppableServer;
  lifecycle: Lifecycle;
  drainMs: number;
  /** After the deadline, how long streams get to write their error frame before connections are closed. */
  closeGraceMs: number;
  logger: Logger;
};

export type DrainResult = { drained: boolean; openAtDeadline: number };

/** Resolves once every connection is closed: on its own within drainMs, or after the open streams were stopped. */
export async function drainServer(options: DrainOptions): Promise<DrainResult> {
  const { server, lifecycle, logger } = options;
  lifecycle.startDraining();
  // Without force, Bun stops listening at once, closes idle keep-alive connections and waits for the rest.
  const stopped = server.stop(false);
  if (await settlesWithin(stopped, options.drainMs)) return { drained: true, openAtDeadline: 0 };
  const openAtDeadline = server.pendingRequests;
  logger.warn("drain deadline passed: stopping the requests still open", { open: openAtDeadline, drainMs: options.drainMs });
  lifecycle.stopOpenStreams();
  if (!(await settlesWithin(stopped, options.closeGraceMs))) await server.stop(true);
  return { drained: false, openAtDeadline };
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}
