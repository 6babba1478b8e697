// Counts the Redis commands behind each proxied request with MONITOR: the limiter's reserve (awaited on the
// request path) and its adjust (sent after the answer is known, never awaited), told apart by script hash.
import { ADJUST_LUA, RESERVE_LUA } from "../../server/limiter/redis-scripts.ts";
import type { TargetRequest } from "./scenarios.ts";

export type RedisTrips = {
  requests: number;
  /** Reserve scripts per request: the round trips a request waits for. */
  reservePerRequest: number;
  /** Adjust scripts per request: reconciliation, fire-and-forget. */
  adjustPerRequest: number;
  /** Every other command per request (should be 0: health sharing publishes only on state changes). */
  otherPerRequest: number;
  commands: Record<string, number>;
};

const sha1 = (text: string) => new Bun.CryptoHasher("sha1").update(text).digest("hex");

/** Sends `requests` requests one at a time to a warmed-up proxy and reads what Redis saw meanwhile. */
export async function countRedisTrips(redisPort: number, request: TargetRequest, requests: number): Promise<RedisTrips> {
  const monitor = Bun.spawn(["redis-cli", "-p", String(redisPort), "monitor"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const reader = monitor.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  // MONITOR answers OK once it is attached; commands before that would be missed.
  while (!text.includes("OK")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`redis-cli monitor exited: ${await new Response(monitor.stderr).text()}`);
    text += decoder.decode(value, { stream: true });
  }
  text = "";
  const drain = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done || value === undefined) return;
      text += decoder.decode(value, { stream: true });
    }
  })();
  try {
    for (let i = 0; i < requests; i++) {
      const response = await fetch(request.url, { method: "POST", headers: request.headers, body: request.body });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`redis trips: status ${response.status}`);
    }
    // The last adjust leaves after its answer: give it a moment to reach Redis and MONITOR.
    await Bun.sleep(200);
  } finally {
    monitor.kill();
    await monitor.exited;
    await drain;
  }
  const reserveSha = sha1(RESERVE_LUA);
  const adjustSha = sha1(ADJUST_LUA);
  const commands: Record<string, number> = {};
  let reserve = 0;
  let adjust = 0;
  let other = 0;
  for (const line of text.split("\n")) {
    // Commands a script runs show up as "[0 lua]": they are part of the script's one round trip.
    const match = /^\d+\.\d+ \[([^\]]*)\] "([^"]+)"(?: "([^"]*)")?/.exec(line);
    if (!match?.[2] || match[1]?.includes("lua")) continue;
    const name = match[2].toLowerCase();
    // Only EVALSHA is expected once the proxy is warm (ioredis sends EVAL just once, after NOSCRIPT).
    const script = name === "evalsha" ? match[3] : undefined;
    const kind = script === reserveSha ? "reserve" : script === adjustSha ? "adjust" : name;
    commands[kind] = (commands[kind] ?? 0) + 1;
    if (kind === "reserve") reserve++;
    else if (kind === "adjust") adjust++;
    else other++;
  }
  return { requests, reservePerRequest: reserve / requests, adjustPerRequest: adjust / requests, otherPerRequest: other / requests, commands };
}
