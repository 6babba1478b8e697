// Sequential streaming client (concurrency 1): time to the first body chunk and to the end, per request, as fetch + reader see them.
import { percentile } from "./stats.ts";
import type { TargetRequest } from "./scenarios.ts";

export type ProbeInput = TargetRequest & { requests: number; warmup: number };
export type ProbeResult = { ttfbP50Ms: number; ttfbP99Ms: number; lastP50Ms: number; lastP99Ms: number; frames: number; bytes: number };

async function timeOne(input: TargetRequest, keepText: boolean): Promise<{ firstMs: number; lastMs: number; text: string; bytes: number }> {
  const start = performance.now();
  const response = await fetch(input.url, { method: "POST", headers: input.headers, body: input.body });
  if (response.status !== 200 || !response.body) throw new Error(`probe got status ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let firstMs = Number.NaN;
  let bytes = 0;
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (Number.isNaN(firstMs)) firstMs = performance.now() - start;
    bytes += value.byteLength;
    if (keepText) text += decoder.decode(value, { stream: true });
  }
  return { firstMs, lastMs: performance.now() - start, text, bytes };
}

export async function probeStream(input: ProbeInput): Promise<ProbeResult> {
  // The first answer is kept whole to check the frame count; the timed ones decode nothing.
  const sample = await timeOne(input, true);
  for (let i = 0; i < input.warmup; i++) await timeOne(input, false);
  const first: number[] = [];
  const last: number[] = [];
  for (let i = 0; i < input.requests; i++) {
    const timing = await timeOne(input, false);
    first.push(timing.firstMs);
    last.push(timing.lastMs);
  }
  first.sort((a, b) => a - b);
  last.sort((a, b) => a - b);
  return {
    ttfbP50Ms: percentile(first, 50),
    ttfbP99Ms: percentile(first, 99),
    lastP50Ms: percentile(last, 50),
    lastP99Ms: percentile(last, 99),
    frames: sample.text.match(/^data:/gm)?.length ?? 0,
    bytes: sample.bytes,
  };
}

if (import.meta.main) {
  const input = JSON.parse(process.argv[2] ?? "{}") as ProbeInput;
  console.log(JSON.stringify(await probeStream(input)));
}
