// Streams over real sockets: frames arrive as Azure sends them, disconnects reach the upstream, quiet streams survive.
import { describe, expect, it } from "bun:test";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

const streamBody = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], stream: true });

async function setup(config: Record<string, unknown> = {}) {
  const fake = await startFakeAzure();
  const proxy = await startProxy({ config: { ...config, instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]) } });
  return {
    fake,
    proxy,
    async [Symbol.asyncDispose]() {
      await proxy[Symbol.asyncDispose]();
      await fake[Symbol.asyncDispose]();
    },
  };
}

async function readAll(response: Response): Promise<string> {
  return new TextDecoder().decode(await response.arrayBuffer());
}

describe("SSE relay", () => {
  it("relays a stream without the usage frame it asked for on the client's behalf, and settles it with that usage", async () => {
    await using s = await setup();
    const frame = (payload: unknown) => `data: ${JSON.stringify(payload)}\n\n`;
    const usage = { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 };
    const visible =
      frame({ id: "c1", choices: [], prompt_filter_results: [] }) +
      frame({ id: "c1", choices: [{ index: 0, delta: { role: "assistant", content: "" } }] }) +
      frame({ id: "c1", choices: [{ index: 0, delta: { content: "Hel" } }] }) +
      frame({ id: "c1", choices: [{ index: 0, delta: { content: "lo" }, finish_reason: "stop" }] });
    s.fake.enqueue({
      kind: "raw",
      status: 200,
      headers: { "content-type": "text/event-stream" },
      body: visible + frame({ id: "c1", choices: [], usage }) + "data: [DONE]\n\n",
    });
    const response = await fetch(`${s.proxy.url}/v1/chat/completions`, { method: "POST", body: streamBody });
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const expected = visible + "data: [DONE]\n\n";
    // The usage frame the proxy asked for on the client's behalf is not passed on.
    expect(await readAll(response)).toBe(expected);
    await until(() => s.proxy.records.length === 1);
    expect(s.proxy.records[0]).toMatchObject({ status: 200, stream: true, usage, usageSource: "upstream" });
    // The whole stream had arrived by its first content: it goes on in one piece (a length, not chunks).
    expect(response.headers.get("content-length")).toBe(String(new TextEncoder().encode(expected).byteLength));
  });

  it("sends SSE headers and delivers the first frame long before the stream ends", async () => {
    await using s = await setup();
    s.fake.enqueue({ kind: "slow-stream", intervalMs: 150 });
    const started = performance.now();
    const response = await fetch(`${s.proxy.url}/v1/chat/completions`, { method: "POST", body: streamBody });
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(response.headers.get("x-accel-buffering")).toBe("no");
    const reader = response.body!.getReader();
    const first = await reader.read();
    const firstAt = performance.now() - started;
    let rest = "";
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
    const endAt = performance.now() - started;
    expect(new TextDecoder().decode(first.value)).toContain('"choices":[]');
    expect(rest).toContain("data: [DONE]");
    // The stream is paced over many intervals; the first frame must not wait for the rest.
    expect(endAt - firstAt).toBeGreaterThan(600);
  });

  it("aborts the upstream request within a second of the client disconnecting", async () => {
    await using s = await setup();
    s.fake.enqueue({ kind: "slow-stream", intervalMs: 200 });
    const controller = new AbortController();
    const response = await fetch(`${s.proxy.url}/v1/chat/completions`, { method: "POST", body: streamBody, signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    const abortedAt = Date.now();
    controller.abort();
    await until(() => s.fake.requests[0]?.aborted === true, { timeoutMs: 1000 });
    expect(s.fake.requests[0]!.abortedAt! - abortedAt).toBeLessThan(1000);
    await until(() => s.proxy.records.length === 1);
    expect(s.proxy.records[0]).toMatchObject({ status: 499, clientAborted: true, instance: "azure-1" });
  });

  it("aborts the upstream request when the client gives up before the answer starts", async () => {
    await using s = await setup();
    s.fake.enqueue({ kind: "hang" });
    const controller = new AbortController();
    const pending = fetch(`${s.proxy.url}/v1/chat/completions`, { method: "POST", body: streamBody, signal: controller.signal }).catch(() => null);
    await until(() => s.fake.requests.length === 1);
    controller.abort();
    await pending;
    await until(() => s.fake.requests[0]?.aborted === true, { timeoutMs: 1000 });
    await until(() => s.proxy.records.length === 1);
    expect(s.proxy.records[0]).toMatchObject({ status: 499, clientAborted: true });
  });

  it("keeps a stream open through upstream silences longer than the client idle timeout", async () => {
    await using s = await setup({ limits: { client_idle_timeout: 1 } });
    s.fake.enqueue({ kind: "stall-stream", afterFrames: 3, ms: 2500 });
    const response = await fetch(`${s.proxy.url}/v1/chat/completions`, { method: "POST", body: streamBody });
    const text = await readAll(response);
    expect(text).toContain("data: [DONE]");
  });

  it("ends a stream cut by the upstream with an error frame and no [DONE]", async () => {
    await using s = await setup();
    s.fake.enqueue({ kind: "cut-stream", afterFrames: 4 });
    const response = await fetch(`${s.proxy.url}/v1/chat/completions`, { method: "POST", body: streamBody });
    const text = await readAll(response);
    expect(text).not.toContain("[DONE]");
    const last = text.trim().split("\n\n").at(-1)!;
    expect(JSON.parse(last.slice("data: ".length))).toEqual({
      error: { message: "The upstream stream ended unexpectedly.", type: "upstream_error", param: null, code: "upstream_bad_response" },
    });
    await until(() => s.proxy.records.length === 1);
    expect(s.proxy.records[0]).toMatchObject({ status: 502, errorCode: "upstream_failed" });
  });

  it("stops a stream that goes silent past the stream idle timeout with an error frame", async () => {
    await using s = await setup({ routing: { stream_idle_timeout: 0.3 } });
    // Frames 0 and 1 are Azure's prelude; the stall comes after content has reached the client.
    s.fake.enqueue({ kind: "stall-stream", afterFrames: 4, ms: 3000 });
    const response = await fetch(`${s.proxy.url}/v1/chat/completions`, { method: "POST", body: streamBody });
    const text = await readAll(response);
    expect(text).toContain('"code":"upstream_timeout"');
    expect(text).not.toContain("[DONE]");
    await until(() => s.fake.requests[0]?.aborted === true);
  });

  it("removes only the usage frame the proxy asked for and keeps multi-byte text intact", async () => {
    await using s = await setup();
    const frames = [
      'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]}\n\n',
      'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hé"}}]}\n\n',
      'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n',
      "data: [DONE]\n\n",
    ];
    const all = frames.join("");
    s.fake.enqueue({ kind: "raw", status: 200, headers: { "content-type": "text/event-stream" }, body: all });
    const text = await readAll(await fetch(`${s.proxy.url}/v1/chat/completions`, { method: "POST", body: streamBody }));
    // The usage frame was requested by the proxy, not the client: it is the only thing removed.
    expect(text).toBe(frames[0]! + frames[1]! + frames[3]!);
    await until(() => s.proxy.records.length === 1);
    expect(s.proxy.records[0]!.usage).toEqual({ prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 });
  });
});
