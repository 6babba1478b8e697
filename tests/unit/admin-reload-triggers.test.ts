// Reloads started by a signal or a file change have no caller to answer: each outcome is logged.
import { describe, expect, it } from "bun:test";
import { reloadAndLog } from "../../server/admin/reload-triggers.ts";
import { InvalidConfigError } from "../../server/admin/service.ts";
import { ProxyError } from "../../server/errors.ts";
import { createLogger } from "../../server/log.ts";

function capture() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: "info", write: (line) => lines.push(line) }) };
}

describe("reloadAndLog", () => {
  it("logs a rejected configuration with its problems, a refusal with its reason, and any other failure", async () => {
    const rejected = capture();
    await reloadAndLog(() => Promise.reject(new InvalidConfigError([{ file: "base.yaml", path: "port", reason: "bad" }])), "SIGHUP", rejected.logger);
    expect(rejected.lines.join("\n")).toContain("config reload rejected");
    expect(rejected.lines.join("\n")).toContain('"path":"port"');

    const refused = capture();
    await reloadAndLog(() => Promise.reject(new ProxyError("invalid_request", "nothing to reload")), "SIGHUP", refused.logger);
    expect(refused.lines.join("\n")).toContain("config reload refused");
    expect(refused.lines.join("\n")).toContain("nothing to reload");

    const failed = capture();
    await reloadAndLog(() => Promise.reject(new Error("EIO")), "file change", failed.logger);
    expect(failed.lines.join("\n")).toContain("config reload failed");

    const fine = capture();
    await reloadAndLog(() => Promise.resolve({ instances: [] }), "SIGHUP", fine.logger);
    expect(fine.lines).toEqual([]);
  });

  it("redacts secrets a reload brought from every later log line", () => {
    const { lines, logger } = capture();
    logger.addSecrets(["new-instance-key-0123456789"]);
    logger.info("upstream said", { detail: "bad key new-instance-key-0123456789" });
    expect(lines.join("\n")).not.toContain("new-instance-key-0123456789");
    expect(lines.join("\n")).toContain("[redacted]");
  });
});
