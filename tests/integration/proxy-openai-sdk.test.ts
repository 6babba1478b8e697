// The proxy driven by the official openai SDK (OpenAI and AzureOpenAI clients) in front of the fake Azure.
import { describe, expect, it } from "bun:test";
import OpenAI, { AzureOpenAI } from "openai";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

const CLIENT_KEY = "sk-client-team-a";

async function setup(instanceOverrides: Record<string, unknown> = {}) {
  const fake = await startFakeAzure();
  const proxy = await startProxy({
    config: {
      auth: { api_keys: [{ name: "team-a", key: CLIENT_KEY }] },
      instances: azureInstances([
        { url: fake.url, apiKey: fake.apiKey, model_deployments: { "gpt-4o": "gpt-4o-deployment" }, ...instanceOverrides },
      ]),
    },
  });
  const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  return {
    fake,
    proxy,
    client,
    async [Symbol.asyncDispose]() {
      await proxy[Symbol.asyncDispose]();
      await fake[Symbol.asyncDispose]();
    },
  };
}

describe("chat completions through the OpenAI SDK", () => {
  it("reaches the mapped Azure deployment with the instance's key and api-version", async () => {
    await using s = await setup();
    const completion = await s.client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hello" }] });
    expect(completion.choices[0]?.message.content).toBeString();
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
    const seen = s.fake.requests.at(-1)!;
    expect(seen.method).toBe("POST");
    expect(seen.path).toBe("/openai/deployments/gpt-4o-deployment/chat/completions");
    expect(seen.query).toEqual({ "api-version": "2024-10-21" });
    expect(seen.headers["api-key"]).toBe(s.fake.apiKey);
  });

  it("strips the client's credentials before forwarding", async () => {
    await using s = await setup();
    await s.client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] });
    const headers = s.fake.requests.at(-1)!.headers;
    expect(headers.authorization).toBeUndefined();
    expect(JSON.stringify(headers)).not.toContain(CLIENT_KEY);
  });

  it("passes fields it does not read through untouched", async () => {
    await using s = await setup();
    const extra = {
      tools: [{ type: "function" as const, function: { name: "lookup", parameters: { type: "object", properties: {} } } }],
      response_format: { type: "json_object" as const },
      seed: 42,
      logprobs: true,
      top_logprobs: 2,
      user: "u-1",
    };
    await s.client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], ...extra });
    expect(s.fake.requests.at(-1)!.body).toEqual({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], ...extra });
  });

  it("relays Azure's request id, region and remaining-quota headers with its own x-request-id", async () => {
    await using s = await setup();
    const { response } = await s.client.chat.completions
      .create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] })
      .withResponse();
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get("apim-request-id")).toBeString();
    expect(response.headers.get("x-ms-region")).toBeString();
    expect(response.headers.get("x-ratelimit-remaining-tokens")).toBeString();
    expect(response.headers.get("set-cookie")).toBeNull();
  });

  it("records the request with the usage Azure reported and the instance that served it", async () => {
    await using s = await setup();
    const completion = await s.client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] });
    await until(() => s.proxy.records.length === 1);
    expect(s.proxy.records[0]).toMatchObject({
      clientName: "team-a",
      model: "gpt-4o",
      endpoint: "/chat/completions",
      status: 200,
      instance: "azure-1",
      deployment: "gpt-4o-deployment",
      attempts: 1,
      usage: completion.usage,
      usageSource: "upstream",
    });
  });
});

describe("streaming through the OpenAI SDK", () => {
  it("streams every frame and hides the usage frame the proxy asked for on the client's behalf", async () => {
    await using s = await setup();
    const stream = await s.client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    // Azure's prelude frame (empty choices) passes intact; no chunk carries usage the client did not ask for.
    expect(chunks[0]?.choices).toEqual([]);
    expect(chunks.some((chunk) => chunk.usage)).toBe(false);
    expect(chunks.some((chunk) => chunk.choices[0]?.finish_reason === "stop")).toBe(true);
    expect((s.fake.requests.at(-1)!.body as { stream_options: unknown }).stream_options).toEqual({ include_usage: true });
    await until(() => s.proxy.records.length === 1);
    expect(s.proxy.records[0]!.usageSource).toBe("upstream");
    expect(s.proxy.records[0]!.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it("passes the usage frame through when the client asked for it", async () => {
    await using s = await setup();
    const stream = await s.client.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage?.total_tokens).toBeGreaterThan(0);
    await until(() => s.proxy.records.length === 1);
    expect(s.proxy.records[0]!.usage).toEqual(usage!);
  });

  it("counts tokens itself on an api-version without stream usage, and appends the usage the client asked for", async () => {
    await using s = await setup({ api_version: "2024-06-01" });
    const stream = await s.client.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "Say this is a test" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    // The old api-version would 400 on stream_options: it must not be sent.
    expect((s.fake.requests.at(-1)!.body as Record<string, unknown>).stream_options).toBeUndefined();
    expect(text.length).toBeGreaterThan(0);
    // o200k_base: "Say this is a test" is 5 tokens + role 1 + 3 framing + 3 priming.
    expect(usage?.prompt_tokens).toBe(12);
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    await until(() => s.proxy.records.length === 1);
    expect(s.proxy.records[0]).toMatchObject({ usage, usageSource: "counted" });
  });
});

describe("completions, embeddings and models", () => {
  it("serves legacy completions", async () => {
    await using s = await setup();
    const completion = await s.client.completions.create({ model: "gpt-35-turbo", prompt: "Once upon a time" });
    expect(completion.choices[0]?.text).toBeString();
    expect(s.fake.requests.at(-1)!.path).toBe("/openai/deployments/gpt-35-turbo/completions");
  });

  it("streams legacy completions", async () => {
    await using s = await setup();
    const stream = await s.client.completions.create({ model: "gpt-35-turbo", prompt: "Once", stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    expect(text.length).toBeGreaterThan(0);
  });

  it("serves embeddings with the SDK's default base64 encoding passed through untouched", async () => {
    await using s = await setup();
    const result = await s.client.embeddings.create({ model: "text-embedding-3-small", input: ["alpha", "beta"] });
    expect(result.data).toHaveLength(2);
    expect(result.data[0]?.embedding).toHaveLength(1536);
    expect(typeof result.data[0]?.embedding[0]).toBe("number");
    expect((s.fake.requests.at(-1)!.body as { encoding_format: string }).encoding_format).toBe("base64");
  });

  it("lists the union of enabled instances' models in OpenAI's list shape", async () => {
    await using s = await setup();
    const models = [];
    for await (const model of s.client.models.list()) models.push(model.id);
    expect(models).toEqual(["gpt-35-turbo", "gpt-4o", "text-embedding-3-small"]);
    expect((await s.client.models.retrieve("gpt-4o")).id).toBe("gpt-4o");
    expect(s.fake.requests).toHaveLength(0);
  });
});

describe("Azure-style paths for AzureOpenAI clients", () => {
  it("serves a deployment path with the client key in api-key", async () => {
    await using s = await setup();
    const azure = new AzureOpenAI({
      endpoint: s.proxy.url,
      apiKey: CLIENT_KEY,
      apiVersion: "2024-10-21",
      deployment: "gpt-4o-deployment",
      maxRetries: 0,
    });
    const completion = await azure.chat.completions.create({ model: "ignored", messages: [{ role: "user", content: "Hi" }] });
    expect(completion.choices[0]?.message.content).toBeString();
    const seen = s.fake.requests.at(-1)!;
    expect(seen.path).toBe("/openai/deployments/gpt-4o-deployment/chat/completions");
    expect(seen.headers["api-key"]).toBe(s.fake.apiKey);
  });

  it("resolves a model name used as the deployment, and streams", async () => {
    await using s = await setup();
    const azure = new AzureOpenAI({ endpoint: s.proxy.url, apiKey: CLIENT_KEY, apiVersion: "2024-10-21", deployment: "gpt-4o", maxRetries: 0 });
    const stream = await azure.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    expect(text.length).toBeGreaterThan(0);
    expect(s.fake.requests.at(-1)!.path).toBe("/openai/deployments/gpt-4o-deployment/chat/completions");
  });

  it("serves embeddings on a deployment path", async () => {
    await using s = await setup();
    const azure = new AzureOpenAI({ endpoint: s.proxy.url, apiKey: CLIENT_KEY, apiVersion: "2024-10-21", deployment: "text-embedding-3-small", maxRetries: 0 });
    const result = await azure.embeddings.create({ model: "text-embedding-3-small", input: "hello" });
    expect(result.data[0]?.embedding).toHaveLength(1536);
  });
});
