// The stdout log writer gathers lines per event-loop turn: none may be lost when the process exits right after.
import { describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, runToExit } from "../_support/process.ts";

/** A child that logs `count` lines through the real logger, then ends as `ending` says, in the same turn. */
async function runLogger(ending: "exit" | "throw" | "return", count: number) {
  const dir = mkdtempSync(join(tmpdir(), "log-writer-"));
  try {
    const script = join(dir, "child.ts");
    writeFileSync(
      script,
      [
        `import { createLogger } from ${JSON.stringify(join(REPO_ROOT, "server/log.ts"))};`,
        `const logger = createLogger({ secrets: ["sk-never-printed"] });`,
        `for (let i = 0; i < ${count}; i++) logger.info("line", { i, key: "sk-never-printed" });`,
        ending === "exit" ? "process.exit(3);" : ending === "throw" ? 'throw new Error("boom");' : "",
      ].join("\n"),
    );
    return await runToExit([], {}, ["bun", script]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const linesOf = (stdout: string) => stdout.split("\n").filter((line) => line.includes('"msg":"line"'));

describe("buffered stdout log", () => {
  it("writes every line, in order, when the process calls exit in the same turn", async () => {
    const { exitCode, stdout } = await runLogger("exit", 2000);
    expect(exitCode).toBe(3);
    const lines = linesOf(stdout);
    expect(lines).toHaveLength(2000);
    expect(lines.map((line) => (JSON.parse(line) as { i: number }).i)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(stdout).not.toContain("sk-never-printed");
  });

  it("writes every line when an uncaught error ends the process", async () => {
    const { exitCode, stdout } = await runLogger("throw", 50);
    expect(exitCode).not.toBe(0);
    expect(linesOf(stdout)).toHaveLength(50);
  });

  it("writes every line when the program simply ends", async () => {
    const { exitCode, stdout } = await runLogger("return", 50);
    expect(exitCode).toBe(0);
    expect(linesOf(stdout)).toHaveLength(50);
  });
});
