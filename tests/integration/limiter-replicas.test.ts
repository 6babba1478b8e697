// Limits hold exactly across replicas sharing one Redis: two processes, and two limiters in one process.
import { describe, expect, it } from "bun:test";
import { join } from "node:path";
import { createLimiter } from "../../server/limiter/limiter.ts";
import { createLogger } from "../../server/log.ts";
import { buildConfig } from "../_support/proxy.ts";
import { startRedisServer } from "../_support/redis-server.ts";
import { until } from "../_support/until.ts";

const REPLICA = join(import.meta.dir, "..", "_support", "limiter-replica.ts");

type Tally = { admitted: number; refused: number; stores: string[] };

function startReplica(url: string, requests: number, rpm: number) {
  const child = Bun.spawn(["bun", REPLICA, url, String(requests), String(rpm)], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  const nextLine = async (): Promise<string> => {
    for (;;) {
      const newline = buffered.indexOf("\n");
      if (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        return line;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error(`replica exited early: ${await new Response(child.stderr).text()}`);
      buffered += decoder.decode(value, { stream: true });
    }
  };
  return {
    nextLine,
    go() {
      child.stdin.write("go\n");
      void child.stdin.flush();
    },
    async [Symbol.asyncDispose]() {
      child.kill();
      await child.exited;
    },
  };
}

describe("limiter across replicas", () => {
  it("admits exactly a client's rpm of 20 out of 100 concurrent requests split across two processes", async () => {
    await using redis = await startRedisServer();
    await using first = startReplica(redis.url, 50, 20);
    await using second = startReplica(redis.url, 50, 20);
    expect(await Promise.all([first.nextLine(), second.nextLine()])).toEqual(["ready", "ready"]);
    first.go();
    second.go();
    const tallies = (await Promise.all([first.nextLine(), second.nextLine()])).map((line) => JSON.parse(line) as Tally);
    expect(tallies.reduce((sum, tally) => sum + tally.admitted, 0)).toBe(20);
    expect(tallies.reduce((sum, tally) => sum + tally.refused, 0)).toBe(80);
    expect(tallies.flatMap((tally) => tally.stores).filter((store) => store !== "refused" && store !== "redis")).toEqual([]);
  });

  it("keeps two limiters in one process (two connections) inside one instance's max_tpm of 1200", async () => {
    await using redis = await startRedisServer();
    const config = buildConfig({ redis: { url: redis.url } });
    const logger = createLogger({ write: () => {} });
    const replicas = [createLimiter({ config, logger }), createLimiter({ config, logger })];
    try {
      await until(() => replicas.every((limiter) => limiter.status().mode === "redis"));
      const instance = { name: "east", max_tpm: 1200 };
      const sizes = Array.from({ length: 100 }, (_, i) => 20 + ((i * 29) % 60));
      const outcomes = await Promise.all(
        sizes.map((tokens, i) => replicas[i % 2]!.reserve({ instances: [instance], client: null, tokens })),
      );
      const accepted = sizes.reduce((sum, tokens, i) => sum + (outcomes[i]?.ok ? tokens : 0), 0);
      expect(accepted).toBeGreaterThan(1200 - 80);
      expect(accepted).toBeLessThanOrEqual(1200);
    } finally {
      await Promise.all(replicas.map((limiter) => limiter.close()));
    }
  });
});
