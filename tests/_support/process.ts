// Runs the proxy's real entry point as a child process and finds where it listens.
import { join } from "node:path";

export const REPO_ROOT = join(import.meta.dir, "..", "..");

export type ProxyProcess = AsyncDisposable & {
  url: string;
  process: Bun.Subprocess<"ignore", "pipe", "pipe">;
  output: () => string;
};

/** Spawns `bun server/main.ts ARGS` (or another command) and waits for its "listening" log line. */
export async function spawnProxy(
  args: string[],
  env: Record<string, string>,
  command: string[] = ["bun", "server/main.ts"],
  cwd: string = REPO_ROOT,
): Promise<ProxyProcess> {
  const child = Bun.spawn([...command, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: "0", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let text = "";
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  const deadline = Date.now() + 15_000;
  let url: string | undefined;
  while (!url) {
    if (Date.now() > deadline) throw new Error(`proxy did not start:\n${text}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`proxy exited before listening:\n${text}\n${await new Response(child.stderr).text()}`);
    text += decoder.decode(value, { stream: true });
    for (const line of text.split("\n")) {
      if (!line.includes('"msg":"listening"')) continue;
      url = (JSON.parse(line) as { url: string }).url;
    }
  }
  // Keep draining so the child never blocks on a full pipe.
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  })();
  return {
    url: url.replace("0.0.0.0", "127.0.0.1").replace("localhost", "127.0.0.1"),
    process: child,
    output: () => text,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.exited;
    },
  };
}

/** Runs a command to completion and returns its exit code and output. */
export async function runToExit(args: string[], env: Record<string, string>, command: string[] = ["bun", "server/main.ts"]) {
  const child = Bun.spawn([...command, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}
