// One access line per request, as JSON, with the fields an operator searches by.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import OpenAI from "openai";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

// bunfig.toml has no per-test timeout setting: child processes and servers on a busy 2-core machine need more than 5 s.
setDefaultTimeout(20_000);

describe("access log", () => {
  it("writes exactly one line per request with request id, key name, model, instance, status, latency, tokens and attempts", async () => {
    await using fake = await startFakeAzure();
    await using proxy = await startProxy({
      logLevel: "info",
      config: {
        auth: { api_keys: [{ name: "team-a", key: "sk-team-a-key" }] },
        instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey, name: "east" }]),
      },
    });
    const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "sk-team-a-key", maxRetries: 0 });
    const { response } = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] }).withResponse();
    const stream = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], stream: true });
    for await (const _chunk of stream);
    await client.chat.completions.create({ model: "gpt-9", messages: [] }).catch(() => {});
    await until(() => proxy.logLines.filter((line) => line.includes('"msg":"request"')).length === 3);
    const lines = proxy.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === "request");
    expect(lines[0]).toMatchObject({
      level: "info",
      requestId: response.headers.get("x-request-id"),
      key: "team-a",
      model: "gpt-4o",
      instance: "east",
      status: 200,
      attempts: 1,
      latencyMs: expect.any(Number),
      tokens: expect.any(Number),
    });
    expect(lines[1]).toMatchObject({ key: "team-a", stream: true, status: 200, instance: "east", tokens: expect.any(Number) });
    expect(lines[2]).toMatchObject({ key: "team-a", model: "gpt-9", instance: null, status: 404, code: "model_not_found", attempts: 0 });
    expect(proxy.logLines.join("\n")).not.toContain("sk-team-a-key");
  });
});
