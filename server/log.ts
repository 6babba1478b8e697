// Structured logger: JSON lines (pretty on a terminal) with every configured secret removed from each line before it is written.
import { sharedStdoutWriter } from "./log-writer.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "pretty";
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
  /** json: one object per line, for collectors; pretty: `time LEVEL message key=value`, for a person at a terminal. */
  format?: LogFormat;
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
  const format = options.format === "pretty" ? formatPretty : formatJson;
  // One access-log line per request: the timestamp's text is made once per millisecond.
  let stampMs = NaN;
  let stamp = "";
  const timestamp = () => {
    const ms = now();
    if (ms !== stampMs) {
      stampMs = ms;
      stamp = new Date(ms).toISOString();
    }
    return stamp;
  };
  const emit = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (LEVEL_ORDER[level] < threshold) return;
    let line = format(timestamp(), level, message, fields);
    for (const secret of secrets) if (line.includes(secret)) line = line.replaceAll(secret, "[redacted]");
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
  const level = text?.toLowerCase();
  return level === "debug" || level === "warn" || level === "error" ? level : "info";
}

/** LOG_FORMAT wins; otherwise pretty only when a person is watching the output. */
export function chooseLogFormat(text: string | undefined, isTerminal: boolean): LogFormat {
  if (text === "json" || text === "pretty") return text;
  return isTerminal ? "pretty" : "json";
}

function formatJson(time: string, level: LogLevel, message: string, fields?: Record<string, unknown>): string {
  const record = { time, level, msg: message, ...fields };
  // A replacer makes JSON.stringify call back for every value: only lines that carry an object need it.
  return JSON.stringify(record, hasObjectValue(fields) ? errorReplacer : undefined);
}

function hasObjectValue(fields: Record<string, unknown> | undefined): boolean {
  if (fields === undefined) return false;
  for (const key in fields) {
    const value = fields[key];
    if (value !== null && typeof value === "object") return true;
  }
  return false;
}

const LEVEL_LABEL: Record<LogLevel, string> = {
  debug: "\x1b[2mDEBUG\x1b[0m",
  info: "\x1b[36mINFO \x1b[0m",
  warn: "\x1b[33mWARN \x1b[0m",
  error: "\x1b[31mERROR\x1b[0m",
};

function formatPretty(time: string, level: LogLevel, message: string, fields?: Record<string, unknown>): string {
  const pairs = Object.entries(fields ?? {})
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => `${key}=${prettyValue(value)}`);
  // Only the clock: a terminal session rarely spans days, and the JSON form keeps the full timestamp.
  return [time.slice(11, 23), LEVEL_LABEL[level], message, ...pairs].join(" ");
}

function prettyValue(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value, errorReplacer) ?? String(value);
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
