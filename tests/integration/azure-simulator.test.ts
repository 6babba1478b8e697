// The built-in Azure simulator driven by the official openai SDK, as the demo and the benchmark use it.
import { describe, expect, it } from "bun:test";
import OpenAI, { AzureOpenAI } from "openai";
import { startAzureSimulator, type AzureSimulatorOptions } from "../../server/simulator/azure-simulator.ts";

const API_KEY = "sim-key";
const messages = [{ role: "user" as const, content: "Say hello" }];

function start(options: Partial<AzureSimulatorOptions> = {}) {
  return startAzureSimulator({ apiKey: API_KEY, deployments: ["gpt-4o", "text-embedding-3-small"], completionTokens: 5, ...options });
}

function azureClient(url: string, deployment: string, apiKey = API_KEY) {
  return new AzureOpenAI({ endpoint: url, apiKey, apiVersion: "2024-10-21", deployment, maxRetries: 0 });
}

describe("chat through AzureOpenAI", () => {
  it("answers with the configured number of completion tokens and Azure's headers", async () => {
    await using sim = await start({ region: "Sweden Central" });
    const { data, response } = await azureClient(sim.url, "gpt-4o").chat.completions.create({ model: "ignored", messages }).withResponse();
    expect(data.object).toBe("chat.completion");
    expect(data.model).toBe("gpt-4o");
    expect(data.choices[0]?.message.content).toBe("This is a simulated Azure");
    expect(data.choices[0]?.finish_reason).toBe("stop");
    expect(data.usage?.completion_tokens).toBe(5);
    expect(data.usage?.total_tokens).toBe((data.usage?.prompt_tokens ?? 0) + 5);
    expect(response.headers.get("x-ms-region")).toBe("Sweden Central");
    expect(response.headers.get("apim-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get("x-ratelimit-remaining-tokens")).toBe("-1");
  });

  it("streams Azure's frame sequence and ends with the usage the client asked for", async () => {
    await using sim = await start();
    const stream = await azureClient(sim.url, "gpt-4o").chat.completions.create({
      model: "gpt-4o",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]?.choices).toEqual([]);
    expect(chunks[1]?.choices[0]?.delta.role).toBe("assistant");
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")).toBe("This is a simulated Azure");
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe("stop");
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(5);
  });

  it("stops at max_tokens with finish_reason length", async () => {
    await using sim = await start();
    const completion = await azureClient(sim.url, "gpt-4o").chat.completions.create({ model: "gpt-4o", messages, max_tokens: 2 });
    expect(completion.choices[0]?.message.content).toBe("This is");
    expect(completion.choices[0]?.finish_reason).toBe("length");
    expect(completion.usage?.completion_tokens).toBe(2);
  });

  it("paces stream frames by the token interval and keeps serving after a client leaves mid-stream", async () => {
    await using sim = await start({ tokenIntervalMs: 30 });
    const client = azureClient(sim.url, "gpt-4o");
    const started = performance.now();
    const stream = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true });
    let pieces = 0;
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) pieces++;
    // prelude, role, 5 pieces, stop, [DONE]: eight gaps after the first frame.
    expect(pieces).toBe(5);
    expect(performance.now() - started).toBeGreaterThanOrEqual(8 * 30 - 10);

    const abandoned = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true });
    for await (const _ of abandoned) break;
    expect((await client.chat.completions.create({ model: "gpt-4o", messages })).choices[0]?.finish_reason).toBe("stop");
  });

  it("holds the headers back by the configured latency", async () => {
    await using sim = await start({ latencyMs: 120 });
    const started = performance.now();
    await azureClient(sim.url, "gpt-4o").chat.completions.create({ model: "gpt-4o", messages });
    expect(performance.now() - started).toBeGreaterThanOrEqual(110);
  });
});

describe("the v1 and plain OpenAI forms", () => {
  it("serves /openai/v1 with the deployment named in model and a Bearer key", async () => {
    await using sim = await start();
    const client = new OpenAI({ baseURL: `${sim.url}/openai/v1`, apiKey: API_KEY, maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: "gpt-4o", messages });
    expect(completion.choices[0]?.message.content).toBe("This is a simulated Azure");
    const error = await client.chat.completions.create({ model: "gpt-9", messages }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it("serves /v1 for provider_type openai upstreams, including legacy completions", async () => {
    await using sim = await start();
    const client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: API_KEY, maxRetries: 0 });
    const completion = await client.completions.create({ model: "gpt-4o", prompt: "Once upon a time" });
    expect(completion.object).toBe("text_completion");
    expect(completion.choices[0]?.text).toBe("This is a simulated Azure");
  });
});

describe("embeddings", () => {
  it("answers the SDK's default base64 request with vectors it decodes to the configured size", async () => {
    await using sim = await start({ embeddingDimensions: 256 });
    const result = await azureClient(sim.url, "text-embedding-3-small").embeddings.create({ model: "x", input: ["alpha", "beta"] });
    expect(result.data.map((item) => item.embedding.length)).toEqual([256, 256]);
    expect(Math.hypot(...result.data[0]!.embedding)).toBeCloseTo(1, 4);
    expect(result.usage.prompt_tokens).toBe(result.usage.total_tokens);
  });

  it("honours the dimensions field and plain float encoding", async () => {
    await using sim = await start();
    const client = azureClient(sim.url, "text-embedding-3-small");
    const result = await client.embeddings.create({ model: "x", input: "alpha", dimensions: 64, encoding_format: "float" });
    expect(result.data[0]?.embedding).toHaveLength(64);
  });
});

describe("refusals", () => {
  it("throttles past max TPM with Azure's 429 body, retry-after and retry-after-ms", async () => {
    // Prompt ~8 tokens + 5 completion per call: the first fits in 20 TPM, the second does not.
    await using sim = await start({ maxTpm: 20 });
    const client = azureClient(sim.url, "gpt-4o");
    const first = await client.chat.completions.create({ model: "gpt-4o", messages }).withResponse();
    expect(Number(first.response.headers.get("x-ratelimit-remaining-tokens"))).toBeLessThan(20);
    const error = await client.chat.completions.create({ model: "gpt-4o", messages }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const rateLimit = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rateLimit.code).toBe("429");
    expect(rateLimit.message).toContain("ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21");
    const retryAfterMs = Number(rateLimit.headers?.get("retry-after-ms"));
    expect(retryAfterMs).toBeGreaterThan(59_000);
    expect(retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(rateLimit.headers?.get("retry-after")).toBe("60");
    expect(rateLimit.headers?.get("x-ratelimit-remaining-tokens")).toBeString();
  });

  it("rejects a wrong key with 401 and an unknown deployment with 404 DeploymentNotFound", async () => {
    await using sim = await start();
    const denied = await azureClient(sim.url, "gpt-4o", "wrong").chat.completions.create({ model: "gpt-4o", messages }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(OpenAI.AuthenticationError);
    const missing = await azureClient(sim.url, "gpt-9").chat.completions.create({ model: "gpt-9", messages }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect((missing as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("DeploymentNotFound");
  });

  it("requires api-version on deployment paths and lists deployments on the models probe", async () => {
    await using sim = await start();
    const unversioned = await fetch(`${sim.url}/openai/deployments/gpt-4o/chat/completions`, {
      method: "POST",
      headers: { "api-key": API_KEY },
      body: JSON.stringify({ messages }),
    });
    expect(unversioned.status).toBe(400);
    const models = await fetch(`${sim.url}/openai/models?api-version=2024-10-21`, { headers: { "api-key": API_KEY } });
    expect(((await models.json()) as { data: Array<{ id: string }> }).data.map((model) => model.id)).toEqual(["gpt-4o", "text-embedding-3-small"]);
  });
});
