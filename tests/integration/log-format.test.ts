// The real entry point under a terminal (a pseudo-terminal from util-linux `script`): readable lines instead of JSON.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../_support/process.ts";

// bunfig.toml has no per-test timeout setting: child processes and servers on a busy 2-core machine need more than 5 s.
setDefaultTimeout(20_000);

const dir = mkdtempSync(join(tmpdir(), "proxy-log-format-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the proxy on a pseudo-terminal until its "listening" line, and returns that line. */
async function listeningLineOnTerminal(env: Record<string, string>): Promise<string> {
  const child = Bun.spawn(["script", "-qfec", `bun server/main.ts --config ${dir}`, "/dev/null"], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: "0", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    const reader = child.stdout.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const deadline = Date.now() + 15_000;
    while (!text.includes("listening")) {
      if (Date.now() > deadline) throw new Error(`no listening line:\n${text}`);
      const { value, done } = await reader.read();
      if (done) throw new Error(`exited before listening:\n${text}`);
      text += decoder.decode(value, { stream: true });
    }
    return text.split(/\r?\n/).find((line) => line.includes("listening"))!;
  } finally {
    // `script` runs the proxy in a session of its own and does not pass SIGTERM on; the pty's hangup is a config
    // reload to the proxy (SIGHUP), so stop the proxy itself, or it outlives the test.
    for (const pid of descendantsOf(child.pid)) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // Already gone.
      }
    }
    child.kill("SIGTERM");
    await child.exited;
  }
}

/** Every process below `pid` (children first listed, then theirs), from /proc. */
function descendantsOf(pid: number): number[] {
  let children: number[];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendantsOf(child)]);
}

describe("log format", () => {
  writeFileSync(join(dir, "base.yaml"), `stats: { enabled: false }\nhealth_check: { enabled: false }\ninstances: [{ name: east, api_key: k, api_base: "http://127.0.0.1:9", supported_models: [gpt-4o] }]\n`);

  // LOG_FORMAT overriding this is covered by chooseLogFormat's unit test; one terminal run is slow enough.
  it("writes pretty lines when stdout is a terminal", async () => {
    const line = await listeningLineOnTerminal({});
    expect(line).toMatch(/^\d\d:\d\d:\d\d\.\d{3} \x1b\[36mINFO \x1b\[0m listening url=http:\/\/\S+:\d+ instances=\["east"\]/);
  }, 30_000);
});
