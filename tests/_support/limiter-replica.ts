// A stand-in proxy replica: its own limiter on a shared Redis. Says "ready", waits for "go", reserves, prints the tally.
// Usage: bun tests/_support/limiter-replica.ts REDIS_URL REQUESTS CLIENT_RPM
import { validateConfig } from "../../server/config/validate.ts";
import { createLimiter } from "../../server/limiter/limiter.ts";
import { createLogger } from "../../server/log.ts";

const [url = "", requestsText = "50", rpmText = "20"] = Bun.argv.slice(2);
const validated = validateConfig({ redis: { url } }, [], () => "replica");
if (!validated.ok) throw new Error(JSON.stringify(validated.problems));
const limiter = createLimiter({ config: validated.config, logger: createLogger({ write: (line) => process.stderr.write(`${line}\n`) }) });

const deadline = Date.now() + 10_000;
while (limiter.status().mode !== "redis") {
  if (Date.now() > deadline) throw new Error(`never reached Redis: ${JSON.stringify(limiter.status())}`);
  await Bun.sleep(5);
}
process.stdout.write("ready\n");
for await (const line of console) if (line.trim() === "go") break;

const client = { name: "shared-key", rpm: Number(rpmText) };
const outcomes = await Promise.all(
  Array.from({ length: Number(requestsText) }, () => limiter.reserve({ instances: [{ name: "east" }], client, tokens: 10 })),
);
const tally = {
  admitted: outcomes.filter((outcome) => outcome.ok).length,
  refused: outcomes.filter((outcome) => !outcome.ok && outcome.reason === "rate_limited" && outcome.scope === "client").length,
  stores: [...new Set(outcomes.map((outcome) => (outcome.ok ? outcome.reservation.store : "refused")))],
};
process.stdout.write(`${JSON.stringify(tally)}\n`);
await limiter.close();
