// The test fake over real HTTP: what it records, how it answers each scripted behaviour, and that disconnects reach it.
import { describe, expect, it } from "bun:test";
import { contentFilterErrorBody, rateLimitErrorBody } from "../../server/simulator/azure-error-bodies.ts";
import { startFakeAzure, type FakeAzure } from "../_support/fake-azure.ts";
import { until } from "../_support/until.ts";

const chat = { messages: [{ role: "user", content: "Hi" }] };
const chatPath = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

function post(fake: FakeAzure, body: unknown, init: { path?: string; signal?: AbortSignal; headers?: Record<string, string> } = {}) {
  return fetch(`${fake.url}${init.path ?? chatPath}`, {
    method: "POST",
    headers: { "api-key": fake.apiKey, "content-type": "application/json", ...init.headers },
    body: JSON.stringify(body),
    ...(init.signal ? { signal: init.signal } : {}),
  });
}

/** Reads a body to its end, reporting whether it ended cleanly or the connection broke. */
async function readToEnd(response: Response): Promise<{ text: string; broken: boolean }> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
    return { text, broken: false };
  } catch {
    return { text, broken: true };
  }
}

describe("recording", () => {
  it("records method, path, query, lower-case headers and the parsed body of every request", async () => {
    await using fake = await startFakeAzure();
    await post(fake, { ...chat, temperature: 0 }, { headers: { "X-Custom": "yes" } });
    expect(fake.requests).toHaveLength(1);
    const seen = fake.lastRequest()!;
    expect(seen).toMatchObject({
      method: "POST",
      path: "/openai/deployments/gpt-4o/chat/completions",
      query: { "api-version": "2024-10-21" },
      body: { ...chat, temperature: 0 },
      rawBody: JSON.stringify({ ...chat, temperature: 0 }),
      aborted: false,
    });
    expect(seen.headers["api-key"]).toBe("fake-azure-key");
    expect(seen.headers["x-custom"]).toBe("yes");
    expect(seen.receivedAt).toBeNumber();
  });

  it("keeps a body that is not JSON as raw text", async () => {
    await using fake = await startFakeAzure();
    await fetch(`${fake.url}${chatPath}`, { method: "POST", headers: { "api-key": fake.apiKey }, body: "{oops" });
    expect(fake.lastRequest()!.body).toBe("{oops");
  });

  it("forgets requests and queued behaviours on clear", async () => {
    await using fake = await startFakeAzure();
    fake.enqueue({ kind: "status", status: 500 });
    await post(fake, chat);
    fake.enqueue({ kind: "status", status: 500 });
    fake.clear();
    expect(fake.requests).toHaveLength(0);
    expect((await post(fake, chat)).status).toBe(200);
  });
});

describe("normal answers", () => {
  it("answers chat with Azure's headers, filter annotations and usage", async () => {
    await using fake = await startFakeAzure();
    const response = await post(fake, chat);
    expect(response.status).toBe(200);
    for (const name of ["apim-request-id", "x-request-id", "x-ms-region", "x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"]) {
      expect(response.headers.get(name)).toBeString();
    }
    const body = (await response.json()) as { choices: Array<{ message: { content: string } }>; usage: { completion_tokens: number }; prompt_filter_results: unknown[] };
    expect(body.choices[0]!.message.content).toBe("Hello from the fake Azure.");
    expect(body.usage.completion_tokens).toBe(5);
    expect(body.prompt_filter_results).toHaveLength(1);
  });

  it("streams when asked, with the usage frame only when include_usage is set", async () => {
    await using fake = await startFakeAzure({ content: "one two" });
    const plain = await (await post(fake, { ...chat, stream: true })).text();
    const withUsage = await (await post(fake, { ...chat, stream: true, stream_options: { include_usage: true } })).text();
    expect(plain.startsWith('data: {"choices":[],"created":0,"id":""')).toBe(true);
    expect(plain.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(plain).not.toContain('"usage"');
    expect(withUsage).toContain('"choices":[],"created"');
    expect(withUsage).toContain('"usage":{"completion_tokens":2,');
  });

  it("answers embeddings and the models probe", async () => {
    await using fake = await startFakeAzure({ embeddingDimensions: 4 });
    const embeddings = await post(fake, { input: ["a", "b"] }, { path: "/openai/deployments/emb/embeddings?api-version=2024-10-21" });
    expect(((await embeddings.json()) as { data: Array<{ embedding: number[] }> }).data.map((item) => item.embedding.length)).toEqual([4, 4]);
    const models = await fetch(`${fake.url}/openai/models?api-version=2024-10-21`, { headers: { "api-key": fake.apiKey } });
    expect(((await models.json()) as { object: string }).object).toBe("list");
  });

  it("refuses a wrong key with Azure's 401 while still recording the request", async () => {
    await using fake = await startFakeAzure({ apiKey: "right" });
    const response = await post(fake, chat, { headers: { "api-key": "wrong" } });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: expect.objectContaining({ code: "401" }) });
    expect(fake.requests).toHaveLength(1);
  });
});

describe("scripted behaviours", () => {
  it("answers a queued 429 with Azure's body and retry headers, then returns to the default", async () => {
    await using fake = await startFakeAzure();
    fake.enqueue({ kind: "status", status: 429, headers: { "retry-after": "2", "retry-after-ms": "1500", "x-ms-retry-after-ms": "1500" } });
    const throttled = await post(fake, chat);
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get("retry-after")).toBe("2");
    expect(throttled.headers.get("retry-after-ms")).toBe("1500");
    expect(throttled.headers.get("x-ms-retry-after-ms")).toBe("1500");
    expect(await throttled.json()).toEqual(rateLimitErrorBody(2));
    expect((await post(fake, chat)).status).toBe(200);
  });

  it("gives a bare 429 a one-second retry-after and sends only the retry headers a test names", async () => {
    await using fake = await startFakeAzure();
    fake.enqueue({ kind: "status", status: 429 }, { kind: "status", status: 429, headers: { "retry-after": "4" } });
    const bare = await post(fake, chat);
    expect([bare.headers.get("retry-after"), bare.headers.get("retry-after-ms")]).toEqual(["1", "1000"]);
    const named = await post(fake, chat);
    expect([named.headers.get("retry-after"), named.headers.get("retry-after-ms")]).toEqual(["4", null]);
    expect(await named.json()).toEqual(rateLimitErrorBody(4));
  });

  it("passes a given error body through as sent", async () => {
    await using fake = await startFakeAzure();
    fake.enqueue({ kind: "status", status: 400, body: contentFilterErrorBody() });
    const response = await post(fake, chat);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual(contentFilterErrorBody());
  });

  it("uses the behaviour set as default for every request once the queue is empty", async () => {
    await using fake = await startFakeAzure();
    fake.setDefault({ kind: "status", status: 503 });
    expect((await post(fake, chat)).status).toBe(503);
    expect((await post(fake, chat)).status).toBe(503);
  });

  it("sends raw bytes exactly", async () => {
    await using fake = await startFakeAzure();
    fake.enqueue({ kind: "raw", status: 200, headers: { "content-type": "text/event-stream" }, body: "data: {broken\n\n" });
    const response = await post(fake, { ...chat, stream: true });
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(await response.text()).toBe("data: {broken\n\n");
  });

  it("holds the headers back for a delay, then answers as told", async () => {
    await using fake = await startFakeAzure();
    fake.enqueue({ kind: "delay", ms: 150, then: { kind: "status", status: 500 } });
    const started = performance.now();
    const response = await post(fake, chat);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(response.status).toBe(500);
  });

  it("cuts a stream after the given frames: the client sees them, then a broken connection and no [DONE]", async () => {
    await using fake = await startFakeAzure();
    fake.enqueue({ kind: "cut-stream", afterFrames: 3 });
    const { text, broken } = await readToEnd(await post(fake, { ...chat, stream: true }));
    expect(broken).toBe(true);
    expect(text.split("\n\n").filter(Boolean)).toHaveLength(3);
    expect(text).not.toContain("[DONE]");
    expect(fake.lastRequest()!.aborted).toBe(false);
  });

  it("pauses a stalled stream mid-way and then finishes it", async () => {
    await using fake = await startFakeAzure();
    fake.enqueue({ kind: "stall-stream", afterFrames: 2, ms: 200 });
    const started = performance.now();
    const { text, broken } = await readToEnd(await post(fake, { ...chat, stream: true }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(broken).toBe(false);
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
  });

  it("paces a slow stream frame by frame", async () => {
    await using fake = await startFakeAzure({ content: "a b" });
    fake.enqueue({ kind: "slow-stream", intervalMs: 40 });
    const response = await post(fake, { ...chat, stream: true });
    const reader = response.body!.getReader();
    const firstAt = performance.now();
    let text = new TextDecoder().decode((await reader.read()).value);
    expect(text.split("\n\n").filter(Boolean)).toHaveLength(1);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
    // prelude, role, 2 pieces, stop, [DONE]: five intervals after the first frame.
    expect(text.split("\n\n").filter(Boolean)).toHaveLength(6);
    expect(performance.now() - firstAt).toBeGreaterThanOrEqual(5 * 40 - 10);
  });
});

describe("client disconnects", () => {
  it("marks a hanging request aborted within a second of the client giving up", async () => {
    await using fake = await startFakeAzure();
    fake.enqueue({ kind: "hang" });
    const controller = new AbortController();
    const pending = post(fake, chat, { signal: controller.signal }).catch((error: Error) => error.name);
    await until(() => fake.requests.length === 1);
    const abortedAt = Date.now();
    controller.abort();
    expect(await pending).toBe("AbortError");
    await until(() => fake.requests[0]!.aborted, { timeoutMs: 1000 });
    expect(fake.requests[0]!.abortedAt! - abortedAt).toBeLessThan(1000);
  });

  it("marks a slow stream aborted when the client disconnects mid-stream", async () => {
    await using fake = await startFakeAzure();
    fake.enqueue({ kind: "slow-stream", intervalMs: 200 });
    const controller = new AbortController();
    const response = await post(fake, { ...chat, stream: true }, { signal: controller.signal });
    await response.body!.getReader().read();
    controller.abort();
    await until(() => fake.requests[0]!.aborted, { timeoutMs: 1000 });
  });

  it("marks a stalled stream aborted when the client cancels its reader", async () => {
    await using fake = await startFakeAzure();
    fake.enqueue({ kind: "stall-stream", afterFrames: 1, ms: 5000 });
    const reader = (await post(fake, { ...chat, stream: true })).body!.getReader();
    await reader.read();
    await reader.cancel();
    await until(() => fake.requests[0]!.aborted, { timeoutMs: 1000 });
  });

  it("marks a delayed request aborted when the client leaves during the delay", async () => {
    await using fake = await startFakeAzure();
    fake.enqueue({ kind: "delay", ms: 5000 });
    const controller = new AbortController();
    const pending = post(fake, chat, { signal: controller.signal }).catch(() => null);
    await until(() => fake.requests.length === 1);
    controller.abort();
    await pending;
    await until(() => fake.requests[0]!.aborted, { timeoutMs: 1000 });
  });

  it("never marks a completed answer aborted", async () => {
    await using fake = await startFakeAzure();
    await (await post(fake, { ...chat, stream: true })).text();
    await (await post(fake, chat)).text();
    expect(fake.requests.map((request) => request.aborted)).toEqual([false, false]);
  });
});
