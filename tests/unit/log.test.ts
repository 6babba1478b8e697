import { describe, expect, it } from "bun:test";
import { secretsOf } from "../../server/config/secrets.ts";
import { chooseLogFormat, createLogger, parseLogLevel } from "../../server/log.ts";
import { buildConfig } from "../_support/proxy.ts";

const AT = Date.parse("2026-11-24T14:05:06.789Z");

function capture(options: Parameters<typeof createLogger>[0] = {}) {
  const lines: string[] = [];
  const logger = createLogger({ now: () => AT, write: (line) => lines.push(line), ...options });
  return { logger, lines };
}

describe("createLogger", () => {
  it("writes one JSON object per line with time, level, message and fields, errors reduced to name and message", () => {
    const { logger, lines } = capture();
    logger.info("request", { requestId: "r1", status: 200 });
    logger.error("failed", { error: new TypeError("boom") });
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { time: "2026-11-24T14:05:06.789Z", level: "info", msg: "request", requestId: "r1", status: 200 },
      { time: "2026-11-24T14:05:06.789Z", level: "error", msg: "failed", error: { name: "TypeError", message: "boom" } },
    ]);
  });

  it("reduces an error nested in a field's object too, and stamps each line with its own millisecond", () => {
    let nowMs = AT;
    const { logger, lines } = capture({ now: () => nowMs });
    logger.warn("retry", { attempt: { instance: "east", error: new RangeError("late") } });
    nowMs += 1;
    logger.info("request", { requestId: "r2" });
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { time: "2026-11-24T14:05:06.789Z", level: "warn", msg: "retry", attempt: { instance: "east", error: { name: "RangeError", message: "late" } } },
      { time: "2026-11-24T14:05:06.790Z", level: "info", msg: "request", requestId: "r2" },
    ]);
  });

  it("drops lines below the level", () => {
    const { logger, lines } = capture({ level: "warn" });
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    expect(lines).toHaveLength(1);
  });

  it("formats pretty lines as clock, level, message and key=value pairs", () => {
    const { logger, lines } = capture({ format: "pretty", level: "debug" });
    logger.info("request", { requestId: "r1", key: "team a", status: 200, code: null, usage: { total: 3 } });
    expect(lines).toEqual(['14:05:06.789 \x1b[36mINFO \x1b[0m request requestId=r1 key="team a" status=200 usage={"total":3}']);
  });

  it("removes secrets in either format, also where JSON escaping changed their spelling", () => {
    const secrets = ["sk-plain-secret", 'quote"secret\\x'];
    for (const format of ["json", "pretty"] as const) {
      const { logger, lines } = capture({ format, secrets });
      logger.error("upstream said sk-plain-secret", { body: 'key quote"secret\\x here', error: new Error("bad sk-plain-secret") });
      const text = lines.join("\n");
      expect(text).not.toContain("sk-plain-secret");
      expect(text).not.toContain('quote\\"secret\\\\x');
      expect(text).not.toContain('quote"secret\\x');
      expect(text.match(/\[redacted\]/g)?.length).toBe(3);
    }
  });
});

describe("log settings", () => {
  it("reads LOG_LEVEL in any case, defaulting to info", () => {
    expect([parseLogLevel("DEBUG"), parseLogLevel("warn"), parseLogLevel(undefined), parseLogLevel("loud")]).toEqual(["debug", "warn", "info", "info"]);
  });

  it("is pretty on a terminal, JSON otherwise, unless LOG_FORMAT says", () => {
    expect([chooseLogFormat(undefined, true), chooseLogFormat(undefined, false), chooseLogFormat("json", true), chooseLogFormat("pretty", false)]).toEqual([
      "pretty",
      "json",
      "json",
      "pretty",
    ]);
  });

  it("treats every key, the admin token, the redis URL and its password as secrets, but not the user name", () => {
    const config = buildConfig({
      admin: { token: "admin-token-1" },
      redis: { url: "redis://cache-user:p%40ss-word@redis:6379/0" },
      auth: { api_keys: [{ name: "a", key: "client-key-1" }] },
      instances: [{ name: "x", api_key: "azure-key-1", api_base: "https://x.example", supported_models: ["m"] }],
    });
    expect(secretsOf(config).sort()).toEqual(
      ["azure-key-1", "client-key-1", "admin-token-1", "redis://cache-user:p%40ss-word@redis:6379/0", "p%40ss-word", "p@ss-word"].sort(),
    );
  });
});
