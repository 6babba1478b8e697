// Drives wrk with a generated Lua script (POST body, headers) and reads its summary back as JSON instead of scraping text.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLIENT_CORE, runTool } from "./children.ts";
import type { TargetRequest } from "./scenarios.ts";

export type WrkResult = {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Connect, read, write, timeout and non-2xx/3xx answers together: any of them makes the cell suspect. */
  errors: number;
  bytesPerRequest: number;
};

export type WrkRun = { scriptPath: string; url: string; connections: number; seconds: number };

const MARKER = "BENCH_RESULT ";

/** Writes the body and a script that sends it; returns the script's path. One script per request shape. */
export function writeWrkScript(dir: string, name: string, request: TargetRequest): string {
  const bodyPath = join(dir, `${name}.body.json`);
  const scriptPath = join(dir, `${name}.lua`);
  writeFileSync(bodyPath, request.body);
  // JSON string literals are valid Lua string literals for the plain ASCII used here.
  const headers = Object.entries(request.headers).map(([key, value]) => `wrk.headers[${JSON.stringify(key)}] = ${JSON.stringify(value)}`);
  writeFileSync(
    scriptPath,
    [
      `local file = assert(io.open(${JSON.stringify(bodyPath)}, "rb"))`,
      `wrk.method = "POST"`,
      `wrk.body = file:read("*a")`,
      `file:close()`,
      ...headers,
      `function done(summary, latency, requests)`,
      `  local e = summary.errors`,
      `  io.write(string.format('\\n${MARKER}{"requests":%d,"durationUs":%d,"bytes":%d,"errors":%d,"p50Us":%.2f,"p99Us":%.2f}\\n',`,
      `    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.status + e.timeout,`,
      `    latency:percentile(50), latency:percentile(99)))`,
      `end`,
      "",
    ].join("\n"),
  );
  return scriptPath;
}

type WrkSummary = { requests: number; durationUs: number; bytes: number; errors: number; p50Us: number; p99Us: number };

export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const stdout = await runTool(CLIENT_CORE, [
    "wrk",
    "-t1",
    `-c${run.connections}`,
    `-d${run.seconds}s`,
    "--timeout",
    "10s",
    "-s",
    run.scriptPath,
    run.url,
  ]);
  const line = stdout.split("\n").find((candidate) => candidate.startsWith(MARKER));
  if (line === undefined) throw new Error(`wrk printed no summary:\n${stdout}`);
  const summary = JSON.parse(line.slice(MARKER.length)) as WrkSummary;
  return {
    requestsPerSec: summary.requests / (summary.durationUs / 1e6),
    p50Ms: summary.p50Us / 1000,
    p99Ms: summary.p99Us / 1000,
    requests: summary.requests,
    errors: summary.errors,
    bytesPerRequest: summary.requests > 0 ? summary.bytes / summary.requests : 0,
  };
}
