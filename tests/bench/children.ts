// Child processes of the benchmark: servers pinned to a core, one-shot tools (wrk, the stream probe), and killing them all on exit.
import type { Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const REPO_ROOT = join(import.meta.dir, "..", "..");
export const HAS_TASKSET = Bun.which("taskset") !== null;
export const HAS_CHRT = Bun.which("chrt") !== null;

/** Servers share core 0; the load generator and probes get core 1, so neither steals the other's event loop. */
export const SERVER_CORE = 0;
export const CLIENT_CORE = 1;

const live = new Set<Subprocess>();
const STARTUP_TIMEOUT_MS = 15_000;
/** Enough of a server's output to explain a failure, without keeping a whole access log in memory. */
const TAIL_CHARS = 4096;

export function pinned(core: number, command: readonly string[]): string[] {
  return HAS_TASKSET ? ["taskset", "-c", String(core), ...command] : [...command];
}

/**
 * SCHED_BATCH (no privilege needed): the process never preempts the one running when it wakes, and takes the core
 * when that one waits or its time slice ends. The bench runs its stand-in for Azure this way: a remote upstream
 * never takes the server's core, while a normal one on the shared core preempted the server at almost every
 * request sent to it (0.58 switches per proxied chat request, ~6 µs of the pair's CPU; see README, Benchmark).
 */
export function asBatch(command: readonly string[]): string[] {
  return HAS_CHRT ? ["chrt", "--batch", "0", ...command] : [...command];
}

/** Moves this process (every thread) to the client core, so orchestration never lands on the servers' core. */
export function pinSelf(core: number): void {
  if (HAS_TASKSET) Bun.spawnSync(["taskset", "-a", "-p", "-c", String(core), String(process.pid)], { stdout: "ignore", stderr: "ignore" });
}

export type ServerChild = AsyncDisposable & {
  name: string;
  url: string;
  pid: number;
  /** Bytes the server wrote to stdout after it started listening (its access log at info level). */
  stdoutBytes(): number;
  tail(): string;
  stop(): Promise<void>;
};

/**
 * How to know a server is up: it prints a JSON line with `"msg":"listening"` and a `url`, or (the proxy at
 * LOG_LEVEL=warn, which hides that info-level line) it was given `port` and answers 200 on `healthPath`.
 */
export type Readiness = { kind: "listening-line" } | { kind: "health"; port: number; healthPath: string };

/** Spawns a server pinned to the servers' core and resolves once it is ready. */
export async function startServer(
  name: string,
  command: readonly string[],
  env: Record<string, string>,
  readiness: Readiness = { kind: "listening-line" },
  schedule: "normal" | "batch" = "normal",
): Promise<ServerChild> {
  const child = Bun.spawn(schedule === "batch" ? asBatch(pinned(SERVER_CORE, command)) : pinned(SERVER_CORE, command), {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
  });
  live.add(child);
  const decoder = new TextDecoder();
  let text = "";
  let bytesAfterStart = 0;
  let ready = false;
  let announced: ((url: string) => void) | undefined;
  const listeningUrl = new Promise<string>((resolve) => (announced = resolve));
  // Drain for the child's whole life: a full pipe would block it. Once it is up, keep only a tail, so an access
  // log at info level costs this process neither memory nor string building.
  void (async () => {
    const reader = child.stdout.getReader();
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done || value === undefined) return;
      text += decoder.decode(value, { stream: true });
      if (ready) {
        bytesAfterStart += value.byteLength;
        text = text.slice(-TAIL_CHARS);
      } else if (readiness.kind === "listening-line") {
        const url = findListeningUrl(text);
        if (url !== undefined) announced?.(url);
      }
    }
  })();
  const failed = child.exited.then((code) => {
    throw new Error(`${name} exited before it was ready (exit ${code}):\n${text}`);
  });
  let timer: Timer | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} was not ready within ${STARTUP_TIMEOUT_MS} ms:\n${text}`)), STARTUP_TIMEOUT_MS);
  });
  let url: string;
  let settled = false;
  const up = readiness.kind === "listening-line" ? listeningUrl : untilHealthy(readiness.port, readiness.healthPath, () => settled);
  try {
    url = await Promise.race([up, failed, timedOut]);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  } finally {
    settled = true;
    clearTimeout(timer);
  }
  ready = true;
  failed.catch(() => {});
  const stop = async (): Promise<void> => {
    child.kill("SIGTERM");
    await child.exited;
    live.delete(child);
  };
  return { name, url, pid: child.pid, stdoutBytes: () => bytesAfterStart, tail: () => text, stop, [Symbol.asyncDispose]: stop };
}

/** A port nobody listens on right now; the window before the child binds it is the price of not having a listening line. */
export function findFreePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = listener;
  listener.stop(true);
  return port;
}

const HEALTH_POLL_MS = 20;

/** Polls until the server answers 200, or until `given` says the child died or the startup timeout passed. */
async function untilHealthy(port: number, healthPath: string, given: () => boolean): Promise<string> {
  const url = `http://127.0.0.1:${port}`;
  while (!given()) {
    const status = await fetch(url + healthPath).then((response) => response.status, () => 0);
    if (status === 200) return url;
    await Bun.sleep(HEALTH_POLL_MS);
  }
  return url;
}

/** Listening lines name 0.0.0.0, :: or localhost depending on the server; the benchmark always dials IPv4 loopback. */
function findListeningUrl(text: string): string | undefined {
  for (const line of text.split("\n")) {
    if (!line.includes('"msg":"listening"')) continue;
    const parsed: unknown = JSON.parse(line);
    const url = parsed !== null && typeof parsed === "object" && "url" in parsed ? parsed.url : undefined;
    if (typeof url === "string") return `http://127.0.0.1:${new URL(url).port}`;
  }
  return undefined;
}

/** Runs a tool to completion on a core and returns its stdout; a non-zero exit is an error with its stderr. */
export async function runTool(core: number, command: readonly string[]): Promise<string> {
  const child = Bun.spawn(pinned(core, command), { cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  live.add(child);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    if (exitCode !== 0) throw new Error(`${command.join(" ")} exited ${exitCode}:\n${stderr}${stdout}`);
    return stdout;
  } finally {
    live.delete(child);
  }
}

/** Peak resident set (VmHWM) of a live process in MiB, or null where /proc is not available. */
export function readPeakRssMiB(pid: number): number | null {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match?.[1] === undefined ? null : Number(match[1]) / 1024;
  } catch {
    return null;
  }
}

/** Clock ticks per second in /proc/<pid>/stat: 100 on every Linux this runs on (USER_HZ). */
const CLOCK_TICKS_PER_SEC = 100;

/** CPU seconds (user + system, every thread) a live process has used so far, or null where /proc is not available. */
export function readCpuSeconds(pid: number): number | null {
  try {
    return parseCpuSeconds(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}

/** utime + stime of a /proc/<pid>/stat line, in seconds; null when the line is not one. */
export function parseCpuSeconds(stat: string): number | null {
  // The command name may hold spaces and parentheses: fields are counted from after its last ")".
  const close = stat.lastIndexOf(")");
  if (close < 0) return null;
  const fields = stat.slice(close + 2).split(" ");
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  return fields.length > 12 && Number.isInteger(user) && Number.isInteger(system) ? (user + system) / CLOCK_TICKS_PER_SEC : null;
}

/** The 1-minute load average, or null where /proc is not available. */
export function readLoadAverage(): number | null {
  try {
    const first = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
    return first === undefined ? null : Number(first);
  } catch {
    return null;
  }
}

/** Last resort on any exit path, thrown errors and Ctrl-C included: no server outlives the benchmark. */
export function killChildrenOnExit(): void {
  const killAll = () => {
    for (const child of live) child.kill("SIGKILL");
    live.clear();
  };
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      killAll();
      process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
    });
  }
}
