// Token estimates before a call: real tokenizer counts near a limit, a byte bound far from one, completion reservations.
import { describe, expect, it } from "bun:test";
import { completionReservation, createTokenEstimator, type EstimateInput } from "../../server/limiter/estimate.ts";
import { countChatPromptTokens } from "../../server/tokens/count.ts";

const estimator = createTokenEstimator({ defaultMaxTokens: 256 });

function chat(body: Record<string, unknown>): EstimateInput {
  return { operation: "chat/completions", model: "gpt-4o", body, bodyBytes: Buffer.byteLength(JSON.stringify(body)) };
}

const messages = [
  { role: "system", content: "You are a terse assistant." },
  { role: "user", name: "ada", content: "How many tokens is this sentence, roughly?" },
];

describe("estimate", () => {
  it("counts the prompt with the model's real tokenizer when a limit is near", async () => {
    const estimate = await estimator.estimate(chat({ model: "gpt-4o", messages, max_tokens: 50 }), 100);
    expect(estimate).toEqual({
      promptTokens: await countChatPromptTokens(messages, "gpt-4o"),
      completionTokens: 50,
      totalTokens: (await countChatPromptTokens(messages, "gpt-4o")) + 50,
      exact: true,
    });
  });

  it("answers without a promise unless a tokenizer has to load, with the same figures", async () => {
    const fresh = createTokenEstimator({ defaultMaxTokens: 256 });
    const input = chat({ model: "gpt-4o", messages, max_tokens: 50 });
    expect(fresh.estimate(input, Infinity)).not.toBeInstanceOf(Promise);
    const loading = fresh.estimate(input, 100);
    expect(loading).toBeInstanceOf(Promise);
    const counted = await loading;
    const loaded = fresh.estimate(input, 100);
    expect(loaded).not.toBeInstanceOf(Promise);
    expect(loaded).toEqual(counted);
  });

  it("uses a bound from the body size when no limit is near, never above the byte count", async () => {
    const input = chat({ model: "gpt-4o", messages });
    const estimate = await estimator.estimate(input, Infinity);
    expect(estimate.exact).toBe(false);
    expect(estimate.promptTokens).toBeLessThanOrEqual(input.bodyBytes);
    expect(estimate.promptTokens).toBeGreaterThanOrEqual(await countChatPromptTokens(messages, "gpt-4o"));
    expect(estimate.completionTokens).toBe(256);
  });

  it("counts exactly as soon as the byte bound could take half the room", async () => {
    const input = chat({ model: "gpt-4o", messages, max_tokens: 10 });
    expect((await estimator.estimate(input, 2 * (input.bodyBytes + 10))).exact).toBe(false);
    expect((await estimator.estimate(input, 2 * (input.bodyBytes + 10) - 1)).exact).toBe(true);
  });

  it("charges tool definitions and images on top of the text", async () => {
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: {} } } }];
    const withImage = [
      { role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image_url", image_url: { url: "https://x/y.png" } }] },
    ];
    const plain = await estimator.estimate(chat({ messages, max_tokens: 1 }), 0);
    const tooled = await estimator.estimate(chat({ messages, tools, max_tokens: 1 }), 0);
    const imaged = await estimator.estimate(chat({ messages: withImage, max_tokens: 1 }), 0);
    expect(tooled.promptTokens - plain.promptTokens).toBeGreaterThan(10);
    expect(imaged.promptTokens).toBeGreaterThan(765);
  });

  it("reserves n completions, and none for embeddings (whose token-id inputs count by length)", async () => {
    expect(completionReservation("chat/completions", { max_completion_tokens: 40, max_tokens: 99, n: 3 }, 256)).toBe(120);
    expect(completionReservation("completions", { best_of: 4 }, 16)).toBe(64);
    expect(completionReservation("embeddings", { max_tokens: 10 }, 256)).toBe(0);
    const body = { input: ["hello world", [1, 2, 3, 4]] };
    const estimate = await estimator.estimate({ operation: "embeddings", model: "text-embedding-3-small", body, bodyBytes: 40 }, 0);
    expect(estimate).toEqual({ promptTokens: 2 + 4, completionTokens: 0, totalTokens: 6, exact: true });
  });

  it("gives the same count from its cache as from the tokenizer", async () => {
    const long = [{ role: "user", content: "lorem ipsum dolor sit amet ".repeat(200) }];
    const first = await estimator.estimate(chat({ messages: long, max_tokens: 1 }), 0);
    const second = await estimator.estimate(chat({ messages: long, max_tokens: 1 }), 0);
    expect(second).toEqual(first);
    expect(first.promptTokens).toBe(await countChatPromptTokens(long, "gpt-4o"));
  });
});
