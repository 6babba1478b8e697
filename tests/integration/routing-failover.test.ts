// Fail-over, cooldowns, circuits and timeouts against misbehaving fake Azure instances, through the OpenAI SDK.
import { describe, expect, it } from "bun:test";
import OpenAI from "openai";
import { contentFilterErrorBody, contextLengthErrorBody, deploymentNotFoundBody } from "../../server/simulator/azure-error-bodies.ts";
import { startFakeAzure, type FakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

type Setup = { fakes: FakeAzure[]; routing?: Record<string, unknown>; health_check?: Record<string, unknown>; models?: string[][] };

async function setup({ fakes, routing = {}, health_check = { enabled: false }, models }: Setup) {
  const proxy = await startProxy({
    config: {
      routing,
      health_check,
      instances: azureInstances(fakes.map((fake, index) => ({ url: fake.url, apiKey: fake.apiKey, name: ["east", "west", "north"][index], models: models?.[index] }))),
    },
  });
  const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 });
  return {
    proxy,
    client,
    chat: (model = "gpt-4o") => client.chat.completions.create({ model, messages: [{ role: "user", content: "Hi" }] }),
    async [Symbol.asyncDispose]() {
      await proxy[Symbol.asyncDispose]();
      for (const fake of fakes) await fake[Symbol.asyncDispose]();
    },
  };
}

const fakes = (count: number) => Promise.all(Array.from({ length: count }, () => startFakeAzure()));
const completions = (fake: FakeAzure) => fake.requests.filter((request) => request.method === "POST").length;

describe("429 and cooldown", () => {
  for (const [form, headers, expectedMs] of [
    ["retry-after-ms", { "retry-after-ms": "1500" }, 1500],
    ["x-ms-retry-after-ms", { "x-ms-retry-after-ms": "2500" }, 2500],
    ["retry-after", { "retry-after": "3" }, 3000],
    ["no header", {}, 5000],
  ] as const) {
    it(`cools east down for the ${form} it sent and serves from west meanwhile`, async () => {
      const [east, west] = await fakes(2);
      await using s = await setup({ fakes: [east!, west!] });
      east!.enqueue({ kind: "status", status: 429, headers });
      const before = Date.now();
      await s.chat();
      const cooldown = s.proxy.fleet.health.get("east").cooldownUntil - before;
      expect(cooldown).toBeGreaterThanOrEqual(expectedMs - 50);
      expect(cooldown).toBeLessThanOrEqual(expectedMs + 200);
      for (let i = 0; i < 5; i++) await s.chat();
      // During the cooldown not one request reached east.
      expect(completions(east!)).toBe(1);
      expect(completions(west!)).toBe(6);
    });
  }

  it("sends traffic back to east once its cooldown has passed", async () => {
    const [east, west] = await fakes(2);
    await using s = await setup({ fakes: [east!, west!] });
    east!.enqueue({ kind: "status", status: 429, headers: { "retry-after-ms": "1000" } });
    await s.chat();
    await until(() => s.proxy.fleet.health.availability("east").available, { timeoutMs: 2000 });
    await s.chat();
    expect(completions(east!)).toBe(2);
  });

  it("answers 429 at once with the soonest recovery when every instance is throttled", async () => {
    const [east, west] = await fakes(2);
    await using s = await setup({ fakes: [east!, west!] });
    east!.enqueue({ kind: "status", status: 429, headers: { "retry-after": "20" } });
    west!.enqueue({ kind: "status", status: 429, headers: { "retry-after": "8" } });
    const first = await s.chat().catch((error) => error);
    expect(first).toBeInstanceOf(OpenAI.RateLimitError);
    // Both are cooling down now: the next request is refused without touching either.
    const started = performance.now();
    const second = await s.chat().catch((error) => error);
    expect(performance.now() - started).toBeLessThan(200);
    expect(second.status).toBe(429);
    expect(Number(second.headers.get("retry-after"))).toBe(8);
    expect(Number(second.headers.get("retry-after-ms"))).toBeGreaterThan(7000);
    expect(Number(second.headers.get("retry-after-ms"))).toBeLessThanOrEqual(8000);
    expect(completions(east!) + completions(west!)).toBe(2);
  });
});

describe("fail-over on upstream faults", () => {
  it("moves on after a 500 and the record names the instance that served", async () => {
    const [east, west] = await fakes(2);
    await using s = await setup({ fakes: [east!, west!] });
    east!.enqueue({ kind: "status", status: 500 });
    const completion = await s.chat();
    expect(completion.choices[0]?.message.content).toBeString();
    await until(() => s.proxy.records.length === 1);
    expect(s.proxy.records[0]).toMatchObject({ instance: "west", attempts: 2, status: 200 });
    expect(s.proxy.records[0]!.failedAttempts).toMatchObject([{ instance: "east", status: 500, reason: "server_error" }]);
    expect(s.proxy.records[0]!.usage?.total_tokens).toBe(completion.usage?.total_tokens);
  });

  it("moves on after a hang times out, and never retries the instance that timed out", async () => {
    const [east, west] = await fakes(2);
    await using s = await setup({ fakes: [east!, west!], routing: { timeout: 0.3 } });
    east!.enqueue({ kind: "hang" });
    await s.chat();
    expect(completions(east!)).toBe(1);
    expect(completions(west!)).toBe(1);
    await until(() => east!.requests[0]?.aborted === true);
    expect(s.proxy.records.at(-1)!.failedAttempts).toMatchObject([{ instance: "east", reason: "timeout" }]);
  });

  it("moves on when the connection is refused", async () => {
    const [dead, west] = await fakes(2);
    await dead![Symbol.asyncDispose]();
    await using s = await setup({ fakes: [dead!, west!] });
    await s.chat();
    expect(s.proxy.records[0]).toMatchObject({ instance: "west", failedAttempts: [{ instance: "east", reason: "connection_error" }] });
  });

  it("moves on when the connection is reset before the headers", async () => {
    const [east, west] = await fakes(2);
    await using s = await setup({ fakes: [east!, west!] });
    east!.enqueue({ kind: "cut-stream", afterFrames: 0 });
    await s.chat();
    expect(s.proxy.records[0]).toMatchObject({ instance: "west", failedAttempts: [{ instance: "east", reason: "connection_error" }] });
  });

  it("marks an instance whose deployment is missing as misconfigured and fails over", async () => {
    const [east, west] = await fakes(2);
    await using s = await setup({ fakes: [east!, west!] });
    east!.enqueue({ kind: "status", status: 404, body: deploymentNotFoundBody() });
    await s.chat();
    expect(s.proxy.fleet.health.get("east").misconfigured).toBe("upstream answered 404 (DeploymentNotFound)");
    expect(completions(west!)).toBe(1);
  });

  it("attempts content_filter and context_length 400s exactly once and leaves health unchanged", async () => {
    const [east, west] = await fakes(2);
    await using s = await setup({ fakes: [east!, west!] });
    east!.enqueue({ kind: "status", status: 400, body: contentFilterErrorBody() });
    east!.enqueue({ kind: "status", status: 400, body: contextLengthErrorBody(128000, 130012) });
    expect((await s.chat().catch((e) => e)).code).toBe("content_filter");
    expect((await s.chat().catch((e) => e)).code).toBe("context_length_exceeded");
    expect(completions(east!)).toBe(2);
    expect(completions(west!)).toBe(0);
    expect(s.proxy.fleet.health.get("east")).toMatchObject({ consecutiveFailures: 0, circuit: "closed", cooldownUntil: 0 });
  });

  it("stops retrying after routing.retries further attempts", async () => {
    const all = await fakes(3);
    await using s = await setup({ fakes: all, routing: { retries: 1 } });
    for (const fake of all) fake.enqueue({ kind: "status", status: 503 });
    const error = await s.chat().catch((e) => e);
    expect(error.status).toBe(502);
    expect(all.map(completions)).toEqual([1, 1, 0]);
  });
});

describe("model fallbacks", () => {
  it("tries the fallback model when every instance of the requested one is throttled, and says which served", async () => {
    const [east, west] = await fakes(2);
    await using s = await setup({
      fakes: [east!, west!],
      models: [["gpt-4o"], ["gpt-4o-mini"]],
      routing: { fallbacks: { "gpt-4o": ["gpt-4o-mini"] } },
    });
    east!.enqueue({ kind: "status", status: 429, headers: { "retry-after": "5" } });
    const completion = await s.chat("gpt-4o");
    expect(completion.model).toBe("gpt-4o-mini");
    expect(west!.requests.at(-1)!.path).toBe("/openai/deployments/gpt-4o-mini/chat/completions");
    expect(s.proxy.records[0]).toMatchObject({ model: "gpt-4o-mini", instance: "west" });
  });

  it("sends a context_length_exceeded request to the configured larger-context model", async () => {
    const [east, west] = await fakes(2);
    await using s = await setup({
      fakes: [east!, west!],
      models: [["gpt-4o"], ["gpt-4.1"]],
      routing: { context_window_fallbacks: { "gpt-4o": ["gpt-4.1"] } },
    });
    east!.enqueue({ kind: "status", status: 400, body: contextLengthErrorBody(128000, 130012) });
    const completion = await s.chat("gpt-4o");
    expect(completion.model).toBe("gpt-4.1");
    expect(s.proxy.fleet.health.get("east").consecutiveFailures).toBe(0);
  });
});

describe("circuit breaker and probes", () => {
  it("opens the circuit on a persistently failing instance, probes once after the interval, and recovers", async () => {
    const [east, west] = await fakes(2);
    await using s = await setup({ fakes: [east!, west!], routing: { circuit_breaker: { open_seconds: 0.5 } } });
    east!.setDefault({ kind: "status", status: 503 });
    for (let i = 0; i < 3; i++) await s.chat();
    expect(s.proxy.fleet.health.get("east").circuit).toBe("open");
    for (let i = 0; i < 5; i++) await s.chat();
    expect(completions(east!)).toBe(3);
    // After the open interval exactly one request probes east; it still fails, so the circuit re-opens.
    await until(() => s.proxy.fleet.health.availability("east").available, { timeoutMs: 2000 });
    await s.chat();
    expect(completions(east!)).toBe(4);
    expect(s.proxy.fleet.health.get("east")).toMatchObject({ circuit: "open", reopenCount: 1 });
    // East recovers: the next probe closes the circuit and east serves again.
    east!.setDefault({ kind: "ok" });
    await until(() => s.proxy.fleet.health.availability("east").available, { timeoutMs: 3000 });
    await s.chat();
    await s.chat();
    expect(s.proxy.fleet.health.get("east").circuit).toBe("closed");
    expect(s.proxy.records.slice(-2).map((record) => record.instance)).toEqual(["east", "east"]);
    // West served everything in between; no client saw an error.
    expect(s.proxy.records.every((record) => record.status === 200)).toBe(true);
  });

  it("serves every request through a flapping primary and returns to it within one probe interval", async () => {
    const [east, west] = await fakes(2);
    await using s = await setup({
      fakes: [east!, west!],
      routing: { circuit_breaker: { open_seconds: 30 } },
      health_check: { interval: 0.5, timeout: 0.5 },
    });
    east!.setDefault({ kind: "status", status: 503 });
    const downUntil = Date.now() + 6000;
    let recoveredAt = 0;
    let served = 0;
    let up = false;
    while (Date.now() < downUntil + 3000) {
      if (!up && Date.now() >= downUntil) {
        east!.setDefault({ kind: "ok" });
        up = true;
      }
      await s.chat();
      served++;
      const last = s.proxy.records.at(-1)!;
      if (Date.now() > downUntil && last.instance === "east" && recoveredAt === 0) recoveredAt = Date.now();
      await Bun.sleep(50); // steady traffic, ~20 requests per second
    }
    expect(s.proxy.records).toHaveLength(served);
    expect(s.proxy.records.every((record) => record.status === 200)).toBe(true);
    expect(recoveredAt).toBeGreaterThan(0);
    // Probe interval 0.5 s (+ the request cadence): far sooner than the 30 s open circuit.
    expect(recoveredAt - downUntil).toBeLessThan(1500);
  }, 15_000);

  it("probes the instance that failed least recently when all are down, then answers 503 with Retry-After", async () => {
    const [east, west] = await fakes(2);
    await using s = await setup({ fakes: [east!, west!], routing: { retries: 1, circuit_breaker: { open_seconds: 30 } } });
    east!.setDefault({ kind: "status", status: 503 });
    west!.setDefault({ kind: "status", status: 503 });
    for (let i = 0; i < 3; i++) await s.chat().catch(() => null);
    expect(s.proxy.fleet.health.get("east").circuit).toBe("open");
    expect(s.proxy.fleet.health.get("west").circuit).toBe("open");
    const before = [completions(east!), completions(west!)];
    const error = await s.chat().catch((e) => e);
    // One last-resort attempt went to whichever failed least recently (east: its last failure is older).
    expect([completions(east!) - before[0]!, completions(west!) - before[1]!]).toEqual([1, 0]);
    expect(error.status).toBe(503);
    expect(error.code).toBe("no_instance_available");
    expect(Number(error.headers.get("retry-after"))).toBeGreaterThan(20);
    // West comes back; the next last resort is west (east failed more recently) and it serves.
    west!.setDefault({ kind: "ok" });
    const completion = await s.chat();
    expect(completion.choices[0]?.message.content).toBeString();
    expect(s.proxy.records.at(-1)!.instance).toBe("west");
  });
});
