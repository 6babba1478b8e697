// Azure's wire bodies and SSE frames as the simulator and the fake build them.
import { describe, expect, it } from "bun:test";
import {
  accessDeniedBody,
  contentFilterErrorBody,
  contextLengthErrorBody,
  deploymentNotFoundBody,
  rateLimitErrorBody,
} from "../../server/simulator/azure-error-bodies.ts";
import {
  buildChatCompletion,
  buildChatStreamFrames,
  buildCompletion,
  buildCompletionStreamFrames,
  buildEmbeddings,
  estimateTokens,
  safeContentFilterResults,
  safePromptFilterResults,
  splitIntoPieces,
  SSE_DONE_FRAME,
  SYSTEM_FINGERPRINT,
  type FilterSeverity,
} from "../../server/simulator/azure-wire-bodies.ts";

const SAFE: FilterSeverity = { filtered: false, severity: "safe" };
const stream = { id: "chatcmpl-1", model: "gpt-4o", created: 1_730_000_000, pieces: ["Hello", " there", "!"], promptTokens: 9 };

/** The JSON payloads of complete frames, with [DONE] kept as a string. */
function payloads(frames: string[]): unknown[] {
  return frames.map((frame) => {
    expect(frame.startsWith("data: ")).toBe(true);
    expect(frame.endsWith("\n\n")).toBe(true);
    const data = frame.slice("data: ".length, -2);
    return data === "[DONE]" ? data : JSON.parse(data);
  });
}

type Chunk = {
  choices: Array<{ delta?: { content?: string; role?: string; refusal?: null }; text?: string; finish_reason?: string | null; content_filter_results?: unknown; index?: number; logprobs?: null }>;
  usage?: unknown;
};

describe("non-streaming bodies", () => {
  it("builds a chat completion with filter annotations and usage as the last key", () => {
    const body = buildChatCompletion({ id: "chatcmpl-1", model: "gpt-4o", created: 5, content: "Hi!", promptTokens: 7, completionTokens: 2 });
    expect(body).toEqual({
      choices: [
        {
          content_filter_results: { hate: SAFE, self_harm: SAFE, sexual: SAFE, violence: SAFE },
          finish_reason: "stop",
          index: 0,
          logprobs: null,
          message: { content: "Hi!", refusal: null, role: "assistant" },
        },
      ],
      created: 5,
      id: "chatcmpl-1",
      model: "gpt-4o",
      object: "chat.completion",
      prompt_filter_results: [
        { prompt_index: 0, content_filter_results: { hate: SAFE, self_harm: SAFE, sexual: SAFE, violence: SAFE, jailbreak: { filtered: false, detected: false } } },
      ],
      system_fingerprint: SYSTEM_FINGERPRINT,
      usage: { completion_tokens: 2, prompt_tokens: 7, total_tokens: 9 },
    });
    expect(Object.keys(body).at(-1)).toBe("usage");
    expect(JSON.stringify(body).endsWith('"usage":{"completion_tokens":2,"prompt_tokens":7,"total_tokens":9}}')).toBe(true);
  });

  it("builds a legacy text completion with the finish reason it is given", () => {
    const body = buildCompletion({ id: "cmpl-1", model: "gpt-35-turbo", created: 5, text: "Once", promptTokens: 3, completionTokens: 1, finishReason: "length" });
    expect(body.object).toBe("text_completion");
    expect(body.choices).toEqual([{ content_filter_results: safeContentFilterResults(), finish_reason: "length", index: 0, logprobs: null, text: "Once" }]);
    expect(body.usage).toEqual({ completion_tokens: 1, prompt_tokens: 3, total_tokens: 4 });
    expect(Object.keys(body).at(-1)).toBe("usage");
  });
});

describe("chat stream frames", () => {
  it("opens with Azure's empty-choices prelude carrying only the prompt filter results", () => {
    const [prelude] = payloads(buildChatStreamFrames({ ...stream, includeUsage: false }));
    expect(prelude).toEqual({ choices: [], created: 0, id: "", model: "", object: "", prompt_filter_results: safePromptFilterResults() });
  });

  it("sends the role, one frame per piece, a stop frame and [DONE], with no usage anywhere when not asked", () => {
    const frames = buildChatStreamFrames({ ...stream, includeUsage: false });
    const chunks = payloads(frames).slice(1, -1) as Chunk[];
    expect(frames).toHaveLength(1 + 1 + 3 + 1 + 1);
    expect(chunks[0]!.choices[0]).toEqual({ content_filter_results: {}, delta: { content: "", refusal: null, role: "assistant" }, finish_reason: null, index: 0, logprobs: null });
    expect(chunks.slice(1, 4).map((chunk) => chunk.choices[0]!.delta!.content)).toEqual(["Hello", " there", "!"]);
    expect(chunks.at(-1)!.choices[0]).toMatchObject({ delta: {}, finish_reason: "stop" });
    expect(chunks.every((chunk) => !("usage" in chunk))).toBe(true);
    expect(frames.at(-1)).toBe(SSE_DONE_FRAME);
  });

  it("marks every chunk usage:null and ends with a choices-free usage frame when include_usage is on", () => {
    const frames = buildChatStreamFrames({ ...stream, includeUsage: true });
    const all = payloads(frames);
    const chunks = all.slice(1, -2) as Chunk[];
    expect(chunks.every((chunk) => chunk.usage === null)).toBe(true);
    expect(all.at(-2)).toEqual({
      choices: [],
      created: stream.created,
      id: stream.id,
      model: stream.model,
      object: "chat.completion.chunk",
      system_fingerprint: SYSTEM_FINGERPRINT,
      usage: { completion_tokens: 3, prompt_tokens: 9, total_tokens: 12 },
    });
    expect(all.at(-1)).toBe("[DONE]");
  });

  it("annotates content chunks with filter results only in batches, so some carry an empty object", () => {
    const pieces = Array.from({ length: 12 }, (_, i) => ` w${i}`);
    const chunks = payloads(buildChatStreamFrames({ ...stream, pieces, includeUsage: false })).slice(2, 14) as Array<{
      choices: Array<{ content_filter_results: unknown }>;
    }>;
    const annotated = chunks.map((chunk) => Object.keys(chunk.choices[0]!.content_filter_results as object).length > 0);
    expect(annotated).toEqual([false, false, false, false, false, false, false, false, false, true, false, true]);
  });
});

describe("legacy completion stream frames", () => {
  it("streams text pieces after the prelude and adds the usage frame only when asked", () => {
    const without = payloads(buildCompletionStreamFrames({ ...stream, includeUsage: false }));
    const withUsage = payloads(buildCompletionStreamFrames({ ...stream, includeUsage: true }));
    expect((without[0] as Chunk).choices).toEqual([]);
    expect((without.slice(1, 4) as Chunk[]).map((chunk) => chunk.choices[0]!.text).join("")).toBe("Hello there!");
    expect((without.at(-2) as Chunk).choices[0]).toMatchObject({ text: "", finish_reason: "stop" });
    expect(withUsage).toHaveLength(without.length + 1);
    expect(withUsage.at(-2)).toMatchObject({ choices: [], object: "text_completion", usage: { completion_tokens: 3, prompt_tokens: 9, total_tokens: 12 } });
  });
});

describe("embeddings", () => {
  const input = { model: "text-embedding-3-small", inputs: ["alpha", "beta"], dimensions: 8, promptTokens: 2 };

  it("returns one unit-length vector per input, the same for the same text", () => {
    const body = buildEmbeddings({ ...input, encodingFormat: "float" });
    expect(body.object).toBe("list");
    expect(body.usage).toEqual({ prompt_tokens: 2, total_tokens: 2 });
    expect(body.data.map((item) => [item.object, item.index])).toEqual([["embedding", 0], ["embedding", 1]]);
    const [alpha, beta] = body.data.map((item) => item.embedding as number[]);
    expect(alpha).toHaveLength(8);
    expect(Math.hypot(...alpha!)).toBeCloseTo(1, 5);
    expect(alpha).not.toEqual(beta);
    expect(buildEmbeddings({ ...input, encodingFormat: "float" }).data[0]!.embedding).toEqual(alpha!);
  });

  it("encodes base64 as little-endian float32 that decodes (as openai-node does) to the float vector", () => {
    const floats = buildEmbeddings({ ...input, encodingFormat: "float" }).data[0]!.embedding as number[];
    const encoded = buildEmbeddings({ ...input, encodingFormat: "base64" }).data[0]!.embedding as string;
    const bytes = Buffer.from(encoded, "base64");
    expect(bytes.length).toBe(8 * 4);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    expect(Array.from({ length: 8 }, (_, i) => view.getFloat32(i * 4, true))).toEqual(floats);
  });
});

describe("error bodies", () => {
  it("words the 429 like Azure, with the string code and the wait in seconds", () => {
    expect(rateLimitErrorBody(2)).toEqual({
      error: {
        code: "429",
        message:
          "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 2 seconds.",
      },
    });
    expect(rateLimitErrorBody(7, { operation: "Embeddings_Create", apiVersion: "2025-04-01-preview" }).error.message).toContain(
      "Embeddings_Create Operation under Azure OpenAI API version 2025-04-01-preview",
    );
  });

  it("shapes the content filter 400 with its inner error and per-category verdicts", () => {
    const { error } = contentFilterErrorBody();
    expect(error).toMatchObject({ type: null, param: "prompt", code: "content_filter", status: 400 });
    expect(error.innererror).toEqual({
      code: "ResponsibleAIPolicyViolation",
      content_filter_result: {
        hate: { filtered: true, severity: "high" },
        self_harm: SAFE,
        sexual: SAFE,
        violence: SAFE,
        jailbreak: { filtered: false, detected: false },
      },
    });
  });

  it("names both token counts in a context length error", () => {
    expect(contextLengthErrorBody(128000, 130012)).toEqual({
      error: {
        message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130012 tokens. Please reduce the length of the messages.",
        type: "invalid_request_error",
        param: "messages",
        code: "context_length_exceeded",
      },
    });
  });

  it("uses Azure's codes for a missing deployment and a rejected key", () => {
    expect(deploymentNotFoundBody().error.code).toBe("DeploymentNotFound");
    expect(accessDeniedBody().error.code).toBe("401");
  });
});

describe("token helpers", () => {
  it("estimates about four characters per token and never less than one", () => {
    expect(estimateTokens("")).toBe(1);
    expect(estimateTokens("abcd")).toBe(1);
    expect(estimateTokens("abcde")).toBe(2);
    expect(estimateTokens("x".repeat(400))).toBe(100);
  });

  it("splits text into word pieces that join back to the original", () => {
    expect(splitIntoPieces("Hello there, world.")).toEqual(["Hello", " there,", " world."]);
    for (const text of ["", "  lead", "trail  ", "a\n\nb", "one"]) expect(splitIntoPieces(text).join("")).toBe(text);
  });
});
