// Azure OpenAI response bodies and SSE frames exactly as azure-wire.md describes them (pure builders).

export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter";

export type FilterSeverity = { filtered: boolean; severity: "safe" | "low" | "medium" | "high" };

export type ContentFilterResults = {
  hate: FilterSeverity;
  self_harm: FilterSeverity;
  sexual: FilterSeverity;
  violence: FilterSeverity;
};

export type PromptFilterResult = {
  prompt_index: number;
  content_filter_results: ContentFilterResults & { jailbreak: { filtered: boolean; detected: boolean } };
};

export type Usage = { completion_tokens: number; prompt_tokens: number; total_tokens: number };

// Keys are in Azure's (alphabetical) order, which also puts `usage` last where a tap may look for it.
export type ChatCompletionBody = {
  choices: Array<{
    content_filter_results: ContentFilterResults;
    finish_reason: FinishReason;
    index: number;
    logprobs: null;
    message: { content: string; refusal: null; role: "assistant" };
  }>;
  created: number;
  id: string;
  model: string;
  object: "chat.completion";
  prompt_filter_results: PromptFilterResult[];
  system_fingerprint: string;
  usage: Usage;
};

export type CompletionBody = {
  choices: Array<{
    content_filter_results: ContentFilterResults;
    finish_reason: FinishReason;
    index: number;
    logprobs: null;
    text: string;
  }>;
  created: number;
  id: string;
  model: string;
  object: "text_completion";
  prompt_filter_results: PromptFilterResult[];
  usage: Usage;
};

export type EmbeddingsBody = {
  object: "list";
  data: Array<{ object: "embedding"; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
};

export type ModelsListBody = {
  data: Array<{ id: string; object: "model"; created_at: number; status: "succeeded"; lifecycle_status: string }>;
  object: "list";
};

export type ChatCompletionInput = {
  id: string;
  model: string;
  created: number;
  content: string;
  promptTokens: number;
  completionTokens: number;
  finishReason?: FinishReason;
};

export type CompletionInput = Omit<ChatCompletionInput, "content"> & { text: string };

export type StreamInput = {
  id: string;
  model: string;
  created: number;
  pieces: readonly string[];
  includeUsage: boolean;
  promptTokens: number;
  finishReason?: FinishReason;
};

export type EmbeddingsInput = {
  model: string;
  inputs: readonly string[];
  dimensions: number;
  encodingFormat: "float" | "base64";
  promptTokens: number;
};

export const SYSTEM_FINGERPRINT = "fp_5f20662549";
export const SSE_DONE_FRAME = "data: [DONE]\n\n";

const SAFE: FilterSeverity = { filtered: false, severity: "safe" };

export function safeContentFilterResults(): ContentFilterResults {
  return { hate: SAFE, self_harm: SAFE, sexual: SAFE, violence: SAFE };
}

export function safePromptFilterResults(): PromptFilterResult[] {
  return [
    {
      prompt_index: 0,
      content_filter_results: { ...safeContentFilterResults(), jailbreak: { filtered: false, detected: false } },
    },
  ];
}

export function toUsage(promptTokens: number, completionTokens: number): Usage {
  return { completion_tokens: completionTokens, prompt_tokens: promptTokens, total_tokens: promptTokens + completionTokens };
}

export function toSseFrame(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

export function buildChatCompletion(input: ChatCompletionInput): ChatCompletionBody {
  return {
    choices: [
      {
        content_filter_results: safeContentFilterResults(),
        finish_reason: input.finishReason ?? "stop",
        index: 0,
        logprobs: null,
        message: { content: input.content, refusal: null, role: "assistant" },
      },
    ],
    created: input.created,
    id: input.id,
    model: input.model,
    object: "chat.completion",
    prompt_filter_results: safePromptFilterResults(),
    system_fingerprint: SYSTEM_FINGERPRINT,
    usage: toUsage(input.promptTokens, input.completionTokens),
  };
}

export function buildCompletion(input: CompletionInput): CompletionBody {
  return {
    choices: [
      {
        content_filter_results: safeContentFilterResults(),
        finish_reason: input.finishReason ?? "stop",
        index: 0,
        logprobs: null,
        text: input.text,
      },
    ],
    created: input.created,
    id: input.id,
    model: input.model,
    object: "text_completion",
    prompt_filter_results: safePromptFilterResults(),
    usage: toUsage(input.promptTokens, input.completionTokens),
  };
}

/** Azure's default-mode prelude: no choices, no id, only the prompt's filter verdict. */
function preludeFrame(): string {
  return toSseFrame({ choices: [], created: 0, id: "", model: "", object: "", prompt_filter_results: safePromptFilterResults() });
}

// Azure annotates output in batches: most chunks carry `{}`, every tenth and the last carry a verdict.
function chunkFilterResults(index: number, count: number): ContentFilterResults | Record<string, never> {
  return (index + 1) % 10 === 0 || index === count - 1 ? safeContentFilterResults() : {};
}

export function buildChatStreamFrames(input: StreamInput): string[] {
  // `usage: null` on every chunk is what Azure sends once include_usage is on, and only then.
  const tail = input.includeUsage ? { system_fingerprint: SYSTEM_FINGERPRINT, usage: null } : { system_fingerprint: SYSTEM_FINGERPRINT };
  const chunk = (choice: Record<string, unknown>): string =>
    toSseFrame({
      choices: [{ ...choice, index: 0, logprobs: null }],
      created: input.created,
      id: input.id,
      model: input.model,
      object: "chat.completion.chunk",
      ...tail,
    });
  const frames = [preludeFrame()];
  frames.push(chunk({ content_filter_results: {}, delta: { content: "", refusal: null, role: "assistant" }, finish_reason: null }));
  input.pieces.forEach((piece, index) => {
    frames.push(
      chunk({ content_filter_results: chunkFilterResults(index, input.pieces.length), delta: { content: piece }, finish_reason: null }),
    );
  });
  frames.push(chunk({ content_filter_results: {}, delta: {}, finish_reason: input.finishReason ?? "stop" }));
  if (input.includeUsage) {
    frames.push(
      toSseFrame({
        choices: [],
        created: input.created,
        id: input.id,
        model: input.model,
        object: "chat.completion.chunk",
        system_fingerprint: SYSTEM_FINGERPRINT,
        usage: toUsage(input.promptTokens, input.pieces.length),
      }),
    );
  }
  frames.push(SSE_DONE_FRAME);
  return frames;
}

export function buildCompletionStreamFrames(input: StreamInput): string[] {
  const tail = input.includeUsage ? { usage: null } : {};
  const chunk = (text: string, finishReason: FinishReason | null, filter: object): string =>
    toSseFrame({
      choices: [{ content_filter_results: filter, finish_reason: finishReason, index: 0, logprobs: null, text }],
      created: input.created,
      id: input.id,
      model: input.model,
      object: "text_completion",
      ...tail,
    });
  const frames = [preludeFrame()];
  input.pieces.forEach((piece, index) => {
    frames.push(chunk(piece, null, chunkFilterResults(index, input.pieces.length)));
  });
  frames.push(chunk("", input.finishReason ?? "stop", {}));
  if (input.includeUsage) {
    frames.push(
      toSseFrame({
        choices: [],
        created: input.created,
        id: input.id,
        model: input.model,
        object: "text_completion",
        usage: toUsage(input.promptTokens, input.pieces.length),
      }),
    );
  }
  frames.push(SSE_DONE_FRAME);
  return frames;
}

export function buildEmbeddings(input: EmbeddingsInput): EmbeddingsBody {
  return {
    object: "list",
    data: input.inputs.map((text, index) => {
      const vector = buildEmbeddingVector(text, input.dimensions);
      return {
        object: "embedding",
        index,
        embedding: input.encodingFormat === "base64" ? encodeFloat32Base64(vector) : Array.from(vector),
      };
    }),
    model: input.model,
    usage: { prompt_tokens: input.promptTokens, total_tokens: input.promptTokens },
  };
}

/** A unit-length vector seeded by the text, so equal inputs embed equally across runs. */
export function buildEmbeddingVector(text: string, dimensions: number): Float32Array {
  const next = createSeededRandom(hashText(text));
  const vector = new Float32Array(dimensions);
  let sumOfSquares = 0;
  for (let i = 0; i < dimensions; i++) {
    const value = next() * 2 - 1;
    vector[i] = value;
    sumOfSquares += value * value;
  }
  const norm = Math.sqrt(sumOfSquares) || 1;
  for (let i = 0; i < dimensions; i++) vector[i] = (vector[i] ?? 0) / norm;
  return vector;
}

/** Little-endian float32 bytes, which is what openai-node's default `encoding_format: "base64"` decodes. */
export function encodeFloat32Base64(vector: Float32Array): string {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  vector.forEach((value, i) => view.setFloat32(i * 4, value, true));
  return Buffer.from(bytes).toString("base64");
}

function hashText(text: string): number {
  // FNV-1a: cheap, stable, and spreads short inputs well enough for a seed.
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function createSeededRandom(seed: number): () => number {
  // mulberry32
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function buildModelsList(ids: readonly string[], createdAt: number): ModelsListBody {
  return {
    data: ids.map((id) => ({ id, object: "model", created_at: createdAt, status: "succeeded", lifecycle_status: "generally-available" })),
    object: "list",
  };
}

/** Rough on purpose: the simulator only needs plausible accounting, not a tokenizer. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** Word-sized pieces that concatenate back to the text, leading whitespace kept like BPE tokens do. */
export function splitIntoPieces(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}
