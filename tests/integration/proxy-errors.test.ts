// Every error the proxy makes, over real HTTP: OpenAI's JSON shape, the right status, x-request-id, no secrets.
import { describe, expect, it } from "bun:test";
import OpenAI from "openai";
import { contentFilterErrorBody, contextLengthErrorBody } from "../../server/simulator/azure-error-bodies.ts";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

const CLIENT_KEY = "sk-client-sentinel-4242";
const chat = { model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] };

async function setup(options: { routing?: Record<string, unknown>; limits?: Record<string, unknown>; upstreams?: number } = {}) {
  const fakes = await Promise.all(Array.from({ length: options.upstreams ?? 1 }, () => startFakeAzure({ apiKey: "az-key-sentinel-7777" })));
  const proxy = await startProxy({
    config: {
      routing: options.routing ?? {},
      limits: options.limits ?? {},
      auth: { api_keys: [{ name: "team-a", key: CLIENT_KEY }] },
      instances: azureInstances(fakes.map((fake) => ({ url: fake.url, apiKey: fake.apiKey }))),
    },
  });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${proxy.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  return {
    fake: fakes[0]!,
    fakes,
    proxy,
    post,
    async [Symbol.asyncDispose]() {
      await proxy[Symbol.asyncDispose]();
      for (const fake of fakes) await fake[Symbol.asyncDispose]();
    },
  };
}

async function expectError(response: Response, status: number, error: { code: string; type?: string; param?: string | null; message?: string }) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/json");
  expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  const body = (await response.json()) as { error: Record<string, unknown> };
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(body.error).toMatchObject(error);
  return body;
}

describe("the caller's mistakes", () => {
  it("answers 400 invalid_json for a body that is not JSON, without calling upstream", async () => {
    await using s = await setup();
    await expectError(await s.post("/v1/chat/completions", "{not json"), 400, { code: "invalid_json", type: "invalid_request_error", param: null });
    expect(s.fake.requests).toHaveLength(0);
  });

  it("names the missing or ill-typed field in param", async () => {
    await using s = await setup();
    await expectError(await s.post("/v1/chat/completions", { messages: [] }), 400, { code: "missing_required_parameter", param: "model" });
    await expectError(await s.post("/v1/chat/completions", { model: "gpt-4o" }), 400, { code: "missing_required_parameter", param: "messages" });
    await expectError(await s.post("/v1/chat/completions", { model: ["gpt-4o"], messages: [] }), 400, { code: "invalid_type", param: "model" });
    await expectError(await s.post("/v1/embeddings", { model: "text-embedding-3-small" }), 400, { code: "missing_required_parameter", param: "input" });
    await expectError(await s.post("/v1/embeddings", { model: "text-embedding-3-small", input: 5 }), 400, { code: "invalid_type", param: "input" });
    expect(s.fake.requests).toHaveLength(0);
  });

  it("answers 404 model_not_found for a model no instance serves, with no upstream call", async () => {
    await using s = await setup();
    await expectError(await s.post("/v1/chat/completions", { ...chat, model: "gpt-9" }), 404, {
      code: "model_not_found",
      param: "model",
      message: "The model 'gpt-9' does not exist or is not served by this proxy.",
    });
    expect(s.fake.requests).toHaveLength(0);
  });

  it("never lets a model name with path characters reach an upstream URL", async () => {
    await using s = await setup();
    for (const model of ["../gpt-4o", "gpt-4o?x=1", "gpt-4o#x", "gpt-4o\r\nx: y"]) {
      await expectError(await s.post("/v1/chat/completions", { ...chat, model }), 404, { code: "model_not_found" });
    }
    const response = await fetch(`${s.proxy.url}/openai/deployments/..%2Fgpt-4o/chat/completions?api-version=2024-10-21`, {
      method: "POST",
      headers: { "api-key": CLIENT_KEY, "content-type": "application/json" },
      body: JSON.stringify(chat),
    });
    await expectError(response, 404, { code: "model_not_found" });
    expect(s.fake.requests).toHaveLength(0);
  });

  it("answers 401 for a missing or wrong client key, and the OpenAI SDK surfaces it", async () => {
    await using s = await setup();
    await expectError(await s.post("/v1/chat/completions", chat, { authorization: "" }), 401, { code: "invalid_api_key" });
    await expectError(await s.post("/v1/chat/completions", chat, { authorization: "Bearer sk-wrong" }), 401, {
      code: "invalid_api_key",
      message: "Incorrect API key provided.",
    });
    const client = new OpenAI({ baseURL: `${s.proxy.url}/v1`, apiKey: "sk-wrong", maxRetries: 0 });
    const error = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error.code).toBe("invalid_api_key");
    expect(error.requestID).toMatch(/^[0-9a-f-]{36}$/);
    const models = await fetch(`${s.proxy.url}/v1/models`);
    await expectError(models, 401, { code: "invalid_api_key" });
    expect(s.fake.requests).toHaveLength(0);
  });

  it("answers 404 for an unknown path and 405 for a wrong verb", async () => {
    await using s = await setup();
    await expectError(await fetch(`${s.proxy.url}/v2/nothing`), 404, { code: "not_found" });
    const wrongVerb = await fetch(`${s.proxy.url}/v1/chat/completions`);
    expect(wrongVerb.headers.get("allow")).toBe("POST");
    await expectError(wrongVerb, 405, { code: "method_not_allowed" });
    await expectError(await fetch(`${s.proxy.url}/v1/models`, { method: "DELETE" }), 405, { code: "method_not_allowed" });
  });

  it("answers 413 for a body over the limit, declared or chunked", async () => {
    await using s = await setup({ limits: { max_body_bytes: 1000 } });
    const big = JSON.stringify({ ...chat, messages: [{ role: "user", content: "x".repeat(2000) }] });
    await expectError(await s.post("/v1/chat/completions", big), 413, { code: "request_too_large" });
    const chunked = new ReadableStream({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const response = await fetch(`${s.proxy.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
      body: chunked,
    });
    await expectError(response, 413, { code: "request_too_large" });
    expect(s.fake.requests).toHaveLength(0);
  });
});

describe("Azure's own errors", () => {
  it("passes a content_filter 400 through with Azure's body, attempted once, even with another instance free", async () => {
    await using s = await setup({ upstreams: 2 });
    s.fakes[0]!.enqueue({ kind: "status", status: 400, body: contentFilterErrorBody() });
    const response = await s.post("/v1/chat/completions", chat);
    expect(response.status).toBe(400);
    expect(response.headers.get("x-should-retry")).toBe("false");
    expect(await response.json()).toEqual(contentFilterErrorBody());
    expect(s.fakes[0]!.requests).toHaveLength(1);
    expect(s.fakes[1]!.requests).toHaveLength(0);
  });

  it("passes context_length_exceeded through and the SDK reads its code and param", async () => {
    await using s = await setup();
    s.fake.enqueue({ kind: "status", status: 400, body: contextLengthErrorBody(128000, 130012) });
    const client = new OpenAI({ baseURL: `${s.proxy.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const error = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.code).toBe("context_length_exceeded");
    expect(error.param).toBe("messages");
  });
});

describe("upstream failures", () => {
  it("fails over to the next instance when the first answers 500", async () => {
    await using s = await setup({ upstreams: 2 });
    s.fakes[0]!.enqueue({ kind: "status", status: 500 });
    expect((await s.post("/v1/chat/completions", chat)).status).toBe(200);
    expect(s.fakes[1]!.requests).toHaveLength(1);
    expect(s.proxy.records.map((record) => [record.instance, record.attempts, record.failedAttempts.map((a) => a.reason)])).toEqual([
      ["azure-2", 2, ["server_error"]],
    ]);
  });

  it("answers 429 with Retry-After when every instance is throttled", async () => {
    await using s = await setup({ upstreams: 2 });
    s.fakes[0]!.enqueue({ kind: "status", status: 429, headers: { "retry-after-ms": "2500" } });
    s.fakes[1]!.enqueue({ kind: "status", status: 429, headers: { "retry-after": "4" } });
    const response = await s.post("/v1/chat/completions", chat);
    expect(response.headers.get("retry-after")).toBe("3");
    expect(response.headers.get("retry-after-ms")).toBe("2500");
    await expectError(response, 429, { code: "rate_limit_exceeded", type: "rate_limit_error" });
  });

  it("answers 502 when the upstream cannot be reached", async () => {
    const dead = await startFakeAzure();
    const deadUrl = dead.url;
    await dead[Symbol.asyncDispose]();
    await using proxy = await startProxy({ config: { instances: azureInstances([{ url: deadUrl, apiKey: "k-dead" }]) } });
    const response = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify(chat) });
    await expectError(response, 502, { code: "upstream_unreachable" });
  });

  it("answers 504 when the upstream does not answer in time, and aborts the upstream request", async () => {
    await using s = await setup({ routing: { timeout: 0.3 } });
    s.fake.enqueue({ kind: "hang" });
    await expectError(await s.post("/v1/chat/completions", chat), 504, { code: "upstream_timeout" });
    await until(() => s.fake.requests[0]?.aborted === true, { timeoutMs: 1000 });
  });

  it("answers 502 and flags nothing secret when the instance's key is rejected", async () => {
    await using s = await setup();
    s.fake.enqueue({ kind: "status", status: 401, body: { error: { code: "401", message: "Access denied due to invalid subscription key az-key-sentinel-7777" } } });
    const response = await s.post("/v1/chat/completions", chat);
    const text = JSON.stringify(await expectError(response, 502, { code: "upstream_misconfigured" }));
    expect(text).not.toContain("az-key-sentinel-7777");
  });

  it("does not follow an upstream redirect", async () => {
    await using s = await setup();
    s.fake.enqueue({ kind: "status", status: 307, headers: { location: "http://127.0.0.1:9/steal" } });
    await expectError(await s.post("/v1/chat/completions", chat), 502, { code: "upstream_misconfigured" });
    expect(s.fake.requests).toHaveLength(1);
  });

  it("keeps secrets out of every response body and log line", async () => {
    await using s = await setup();
    s.fake.enqueue(
      { kind: "status", status: 400, body: { error: { message: `bad key az-key-sentinel-7777 at ${s.fake.url}`, code: "x" } } },
      { kind: "status", status: 500 },
    );
    const bodies = [
      await (await s.post("/v1/chat/completions", chat)).text(),
      await (await s.post("/v1/chat/completions", chat)).text(),
      await (await s.post("/v1/chat/completions", "{")).text(),
      await (await s.post("/v1/chat/completions", chat, { authorization: "Bearer nope" })).text(),
    ];
    const everything = bodies.join("\n") + s.proxy.logLines.join("\n");
    expect(everything).not.toContain("az-key-sentinel-7777");
    expect(everything).not.toContain(CLIENT_KEY);
    expect(everything).not.toContain(new URL(s.fake.url).host);
  });
});
