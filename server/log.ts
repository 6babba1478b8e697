// Structured JSON-lines logger that removes every configured secret from each line before it is written.
import { sharedStdoutWriter } from "./log-writer.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Logger = {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** Secrets a reloaded configuration brought (a new instance key): redacted from then on too. */
  addSecrets(values: readonly string[]): void;
};

export type LoggerOptions = {
  level?: LogLevel;
  /** Values that must never appear in output (API keys, tokens): replaced wherever they occur. */
  secrets?: readonly string[];
  write?: (line: string) => void;
  now?: () => number;
};

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = LEVEL_ORDER[options.level ?? "info"];
  // A secret with quotes or backslashes appears escaped inside a JSON line, so look for both spellings.
  const spellings = (values: readonly string[]) =>
    values.filter((secret) => secret.length >= 4).flatMap((secret) => [secret, JSON.stringify(secret).slice(1, -1)]);
  let secrets = [...new Set(spellings(options.secrets ?? []))];
  const write = options.write ?? sharedStdoutWriter();
  const now = options.now ?? Date.now;
  const emit = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (LEVEL_ORDER[level] < threshold) return;
    let line = JSON.stringify({ time: new Date(now()).toISOString(), level, msg: message, ...fields }, errorReplacer);
    for (const secret of secrets) line = line.replaceAll(secret, "[redacted]");
    write(line);
  };
  return {
    debug: (message, fields) => emit("debug", message, fields),
    info: (message, fields) => emit("info", message, fields),
    warn: (message, fields) => emit("warn", message, fields),
    error: (message, fields) => emit("error", message, fields),
    addSecrets(values) {
      secrets = [...new Set([...secrets, ...spellings(values)])];
    },
  };
}

export function parseLogLevel(text: string | undefined): LogLevel {
  return text === "debug" || text === "warn" || text === "error" ? text : "info";
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
