// A private redis-server for one test: free port, temp dir, no persistence; kill, pause (SIGSTOP), resume, restart.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? "/usr/bin/redis-server";

export type RedisServer = AsyncDisposable & {
  port: number;
  url: string;
  /** SIGKILL: the port stops answering, connections reset. */
  kill(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers (a black hole). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Kills (if running) and starts again on the same port, empty. */
  restart(): Promise<void>;
  /** Runs one command through redis-cli, e.g. ["SCRIPT", "FLUSH"]. */
  cli(args: string[]): Promise<string>;
};

/** How many clients are subscribed to a channel: lets a test wait for replicas to listen before it measures. */
export async function subscribersOf(redis: RedisServer, channel: string): Promise<number> {
  return Number((await redis.cli(["PUBSUB", "NUMSUB", channel])).trim().split(/\s+/)[1]);
}

/** A port nothing listens on right now (the OS picks it). */
export function findFreePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Starts redis-server on `port` (default: a free one). Never the shared 6379. */
export async function startRedisServer(options: { port?: number } = {}): Promise<RedisServer> {
  const port = options.port ?? findFreePort();
  if (port === 6379) throw new Error("tests must not use the shared Redis on 6379");
  const dir = mkdtempSync(join(tmpdir(), "limiter-redis-"));
  let child: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined = await spawnRedis(port, dir);
  let paused = false;

  const kill = async () => {
    if (!child) return;
    if (paused) child.kill("SIGCONT");
    paused = false;
    child.kill("SIGKILL");
    await child.exited;
    child = undefined;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    pause() {
      child?.kill("SIGSTOP");
      paused = true;
    },
    resume() {
      child?.kill("SIGCONT");
      paused = false;
    },
    async restart() {
      await kill();
      child = await spawnRedis(port, dir);
    },
    async cli(args) {
      const run = Bun.spawn(["redis-cli", "-p", String(port), ...args], { stdout: "pipe", stderr: "pipe" });
      const [out, code] = await Promise.all([new Response(run.stdout).text(), run.exited]);
      if (code !== 0) throw new Error(`redis-cli ${args.join(" ")} exited ${code}`);
      return out.trim();
    },
    async [Symbol.asyncDispose]() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function spawnRedis(port: number, dir: string): Promise<Bun.Subprocess<"ignore", "pipe", "pipe">> {
  const child = Bun.spawn(
    [
      REDIS_SERVER_BIN,
      "--port", String(port),
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--dir", dir,
      "--logfile", "",
      "--protected-mode", "no",
    ],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  // redis-server logs "Ready to accept connections" once it listens; read until then, then keep draining.
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + 10_000;
  while (!text.includes("Ready to accept connections")) {
    if (Date.now() > deadline) throw new Error(`redis-server did not start:\n${text}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`redis-server exited:\n${text}\n${await new Response(child.stderr).text()}`);
    text += decoder.decode(value, { stream: true });
  }
  void (async () => {
    for (;;) {
      const { done } = await reader.read().catch(() => ({ done: true }));
      if (done) return;
    }
  })();
  return child;
}
