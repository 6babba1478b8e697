// Streams under faults: invisible fail-over before content, honest errors after it, prompt endings.
import { describe, expect, it } from "bun:test";
import OpenAI from "openai";
import { startFakeAzure, type FakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

async function setup(routing: Record<string, unknown> = {}) {
  const east = await startFakeAzure();
  const west = await startFakeAzure();
  const proxy = await startProxy({
    config: {
      routing,
      health_check: { enabled: false },
      instances: azureInstances([
        { url: east.url, apiKey: east.apiKey, name: "east" },
        { url: west.url, apiKey: west.apiKey, name: "west" },
      ]),
    },
  });
  const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 });
  return {
    east,
    west,
    proxy,
    client,
    async [Symbol.asyncDispose]() {
      await proxy[Symbol.asyncDispose]();
      await east[Symbol.asyncDispose]();
      await west[Symbol.asyncDispose]();
    },
  };
}

const body = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], stream: true });
const rawStream = async (proxyUrl: string) =>
  new TextDecoder().decode(await (await fetch(`${proxyUrl}/v1/chat/completions`, { method: "POST", body })).arrayBuffer());
const dataFrames = (text: string) => text.split("\n\n").filter((frame) => frame.startsWith("data: "));
const posts = (fake: FakeAzure) => fake.requests.filter((request) => request.method === "POST").length;

describe("before the first content frame", () => {
  it("fails over invisibly when the stream is cut during Azure's prelude", async () => {
    await using s = await setup();
    s.east.enqueue({ kind: "cut-stream", afterFrames: 2 });
    const text = await rawStream(s.proxy.url);
    // Exactly one prelude (from west): east's held frames never reached the client.
    expect(dataFrames(text).filter((frame) => frame.includes('"prompt_filter_results"'))).toHaveLength(1);
    expect(text).toContain("data: [DONE]");
    expect(text).not.toContain('"error"');
    await until(() => s.proxy.records.length === 1);
    expect(s.proxy.records[0]).toMatchObject({ instance: "west", status: 200, failedAttempts: [{ instance: "east", reason: "server_error" }] });
  });

  it("fails over when the first token is slower than first_token_timeout", async () => {
    await using s = await setup({ first_token_timeout: 0.3 });
    s.east.enqueue({ kind: "stall-stream", afterFrames: 2, ms: 5000 });
    const stream = await s.client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    expect(text.length).toBeGreaterThan(0);
    await until(() => s.east.requests[0]?.aborted === true);
    expect(s.proxy.records[0]).toMatchObject({ instance: "west", failedAttempts: [{ instance: "east", reason: "timeout" }] });
  });
});

describe("after content has been sent", () => {
  it("never retries a stream cut mid-answer: error frame, no [DONE], nothing duplicated", async () => {
    await using s = await setup();
    s.east.enqueue({ kind: "cut-stream", afterFrames: 5 });
    const text = await rawStream(s.proxy.url);
    const frames = dataFrames(text);
    expect(text).not.toContain("[DONE]");
    expect(JSON.parse(frames.at(-1)!.slice(6)).error.code).toBe("upstream_bad_response");
    // Five upstream frames, then the error frame: west was never asked.
    expect(frames).toHaveLength(6);
    expect(posts(s.west)).toBe(0);
    const ids = new Set(frames.slice(1, -1).map((frame) => JSON.parse(frame.slice(6)).id));
    expect(ids.size).toBe(1);
  });

  it("stops a stalled stream at the idle timeout with an error frame, without marking the instance unhealthy", async () => {
    await using s = await setup({ stream_idle_timeout: 0.3 });
    s.east.enqueue({ kind: "stall-stream", afterFrames: 4, ms: 5000 });
    const text = await rawStream(s.proxy.url);
    expect(JSON.parse(dataFrames(text).at(-1)!.slice(6)).error.code).toBe("upstream_timeout");
    expect(s.proxy.fleet.health.get("east")).toMatchObject({ consecutiveFailures: 0, circuit: "closed" });
    await until(() => s.east.requests[0]?.aborted === true);
  });

  it("relays a malformed frame as it came and keeps streaming", async () => {
    await using s = await setup();
    const frames = [
      'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}],"id":"x","object":"chat.completion.chunk"}\n\n',
      "data: {this is not json\n\n",
      'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"id":"x","object":"chat.completion.chunk"}\n\n',
      "data: [DONE]\n\n",
    ];
    s.east.enqueue({ kind: "raw", status: 200, headers: { "content-type": "text/event-stream" }, body: frames.join("") });
    expect(await rawStream(s.proxy.url)).toBe(frames.join(""));
  });

  it("finishes promptly when the upstream closes without [DONE]", async () => {
    await using s = await setup();
    const frames = [
      'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}],"id":"x","object":"chat.completion.chunk"}\n\n',
      'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"id":"x","object":"chat.completion.chunk"}\n\n',
    ];
    s.east.enqueue({ kind: "raw", status: 200, headers: { "content-type": "text/event-stream" }, body: frames.join("") });
    const started = performance.now();
    expect(await rawStream(s.proxy.url)).toBe(frames.join(""));
    expect(performance.now() - started).toBeLessThan(1000);
    await until(() => s.proxy.records.length === 1);
    expect(s.proxy.records[0]).toMatchObject({ status: 200, instance: "east" });
  });
});
