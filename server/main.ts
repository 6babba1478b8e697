// Entry point: load config (or start the demo) → createApp → listen; signals. The only module with side effects at import.
import { createApp } from "./app.ts";
import { reloadAndLog, watchConfigFiles } from "./admin/reload-triggers.ts";
import { parseCliArgs } from "./cli.ts";
import { ConfigError, loadConfig } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import { secretsOf } from "./config/secrets.ts";
import { formatProblem } from "./config/validate.ts";
import { startDemo, type Demo } from "./demo.ts";
import { createLifecycle } from "./lifecycle.ts";
import { chooseLogFormat, createLogger, parseLogLevel } from "./log.ts";
import { drainServer } from "./shutdown.ts";
import { openStats } from "./stats/open.ts";
import { createFetchUpstreamClient } from "./upstream/fetch-client.ts";

const EXIT_CONFIG = 2;
const EXIT_FORCED = 1;
/** After the drain deadline, the time stopped requests get to write their 503 or error frame. */
const CLOSE_GRACE_MS = 2000;

async function main(): Promise<void> {
  let cli;
  try {
    cli = parseCliArgs(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: azure-openai-proxy [--config DIR] [--demo]\n`);
    process.exit(EXIT_CONFIG);
  }

  let loaded;
  try {
    loaded = await loadConfig({ dir: cli.configDir, explicit: cli.configExplicit, env: process.env });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`configuration rejected:\n${error.problems.map((p) => `  ${formatProblem(p)}`).join("\n")}\n`);
    process.exit(EXIT_CONFIG);
  }

  let config: Readonly<Config> = loaded.config;
  const logger = createLogger({
    level: parseLogLevel(process.env.LOG_LEVEL),
    format: chooseLogFormat(process.env.LOG_FORMAT, process.stdout.isTTY === true),
    secrets: secretsOf(config),
  });
  for (const warning of loaded.warnings) logger.warn(warning);

  let demo: Demo | undefined;
  const production = process.env.ENVIRONMENT === "production";
  if (cli.demo || (config.instances.length === 0 && !production)) {
    if (!cli.demo) logger.warn("no usable instance configured: starting the built-in Azure simulator (demo mode)");
    demo = await startDemo(config);
    config = demo.config;
  } else if (config.instances.length === 0) {
    process.stderr.write("configuration rejected:\n  no usable instance configured (ENVIRONMENT=production never falls back to the demo)\n");
    process.exit(EXIT_CONFIG);
  }
  if (config.auth.api_keys.length === 0) logger.warn("auth.api_keys is empty: client authentication is off");

  const stats = openStats(config.stats, logger);
  const source = { dir: cli.configDir, explicit: cli.configExplicit, env: process.env };
  const lifecycle = createLifecycle();
  const app = createApp({
    config,
    logger,
    stats: stats.deps,
    lifecycle,
    environment: process.env.ENVIRONMENT,
    // Bun's fetch honours HTTP(S)_PROXY; the socket client connects directly.
    ...(behindHttpProxy(process.env) ? { upstream: createFetchUpstreamClient(fetch) } : {}),
    // The demo's instances are made at run time, not read from a file: nothing to reload.
    ...(demo ? {} : { loadConfig: () => loadConfig(source), configFiles: loaded.files }),
  });
  const reload = () => app.decorator.fleet.admin.service.reload();
  process.on("SIGHUP", () => void reloadAndLog(reload, "SIGHUP", logger));
  const onDisk = loaded.files.filter((file) => !file.startsWith("(embedded)"));
  const watcher = config.config.watch && !demo && onDisk.length > 0 ? watchConfigFiles(onDisk, () => void reloadAndLog(reload, "file change", logger)) : null;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn("second signal: exiting without waiting", { signal });
      process.exit(EXIT_FORCED);
    }
    stopping = true;
    watcher?.close();
    // An open event stream never finishes by itself: end them, or the drain would wait for the browsers.
    app.decorator.fleet.admin.hub.stop();
    const server = app.server;
    logger.info("draining", { signal, drainSeconds: config.shutdown.drain_seconds });
    const drain = server
      ? await drainServer({ server, lifecycle, drainMs: config.shutdown.drain_seconds * 1000, closeGraceMs: CLOSE_GRACE_MS, logger })
      : { drained: true, openAtDeadline: 0 };
    // Elysia complains when stopping a server that never listened (a signal during start-up).
    if (server) await app.stop(true);
    await app.decorator.fleet.closeShared();
    // After the server has stopped, so the last settled requests are in the queue it flushes.
    stats.close();
    await demo?.stop();
    logger.info("stopped", drain);
    process.exit(0);
  };
  // Before listening: a signal that arrives as soon as the "listening" line is out must find its handler.
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  app.listen({
    port: config.port,
    idleTimeout: config.limits.client_idle_timeout,
    // Bun's own cap is a backstop well above ours; our reader answers 413 in OpenAI's shape first.
    maxRequestBodySize: config.limits.max_body_bytes * 2,
  });
  logger.info("listening", {
    url: `http://${app.server?.hostname}:${app.server?.port}`,
    instances: config.instances.map((instance) => instance.name),
    config: loaded.files,
    demo: demo !== undefined,
  });
}

await main();

function behindHttpProxy(env: Record<string, string | undefined>): boolean {
  return [env.HTTPS_PROXY, env.https_proxy, env.HTTP_PROXY, env.http_proxy].some((value) => value !== undefined && value !== "");
}
