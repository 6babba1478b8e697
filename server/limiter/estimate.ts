// Tokens to reserve before a call: prompt (real BPE, cached per string, or a bound when no limit is near) + completion.
import type { Operation } from "../providers/azure/url.ts";
import {
  REPLY_PRIMER_TOKENS,
  TOKENS_PER_MESSAGE,
  TOKENS_PER_NAME,
  encodingForModel,
  loadTokenCounter,
  textOfContent,
  type CountTokens,
  type Encoding,
} from "../tokens/count.ts";
import { countWithinBudget } from "../tokens/bounded-count.ts";

export type EstimateInput = {
  operation: Operation;
  model: string;
  /** The parsed request body (only read). */
  body: Record<string, unknown>;
  /** Size of the raw body: every text token is at least one UTF-8 byte, so this bounds the prompt. */
  bodyBytes: number;
};

export type TokenEstimate = {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** False when the prompt figure is the cheap heuristic (no limit was near enough for the count to matter). */
  exact: boolean;
};

export type TokenEstimatorOptions = {
  /** Completion tokens reserved when the request sets neither max_tokens nor max_completion_tokens. */
  defaultMaxTokens: number;
  /** Total characters of cached strings per encoding before the least recently used are dropped. */
  cacheChars?: number;
};

export type TokenEstimator = {
  /**
   * @param roomTokens the smallest token budget the request could bump into (Infinity when none is limited):
   * the prompt is counted exactly only when its upper bound could come near it.
   */
  estimate(input: EstimateInput, roomTokens: number): TokenEstimate | Promise<TokenEstimate>;
};

// Azure prices an image by tiles: 85 + 170 per 512px tile; 765 is a 1024×1024 "high" image, 1445 the most tiles one can have.
const IMAGE_TOKENS = 765;
const IMAGE_MAX_TOKENS = 1445;
// English runs about 4 bytes of JSON per token; only used far from any limit, and reconciled with real usage after.
const BYTES_PER_TOKEN_GUESS = 4;
// Other replicas may have spent some of the room we saw: count exactly once the bound reaches half of it.
const EXACT_ABOVE_ROOM_SHARE = 0.5;
const DEFAULT_CACHE_CHARS = 4_000_000;
// Counting runs at about a microsecond per character of unseen text: beyond this many per request, extrapolate.
const EXACT_COUNT_CHARS = 256 * 1024;

export function createTokenEstimator(options: TokenEstimatorOptions): TokenEstimator {
  const caches = new Map<Encoding, StringCountCache>();
  const cacheChars = options.cacheChars ?? DEFAULT_CACHE_CHARS;
  return {
    // Without a promise unless a tokenizer must load: most requests are far from any limit, or their encoding is loaded.
    estimate(input, roomTokens) {
      const completionTokens = completionReservation(input.operation, input.body, options.defaultMaxTokens);
      const images = input.operation === "chat/completions" ? countImages(input.body.messages) : 0;
      const upperBound = input.bodyBytes + images * IMAGE_MAX_TOKENS;
      if (upperBound + completionTokens <= roomTokens * EXACT_ABOVE_ROOM_SHARE) {
        const promptTokens = Math.min(upperBound, Math.ceil(input.bodyBytes / BYTES_PER_TOKEN_GUESS) + images * IMAGE_TOKENS);
        return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, exact: false };
      }
      const encoding = encodingForModel(input.model);
      const cache = caches.get(encoding);
      if (cache) return exactly(input, cache, completionTokens);
      return loadTokenCounter(input.model).then((counter) => {
        const loaded = caches.get(encoding) ?? createStringCountCache(counter, cacheChars);
        caches.set(encoding, loaded);
        return exactly(input, loaded, completionTokens);
      });
    },
  };
}

function exactly(input: EstimateInput, cache: StringCountCache, completionTokens: number): TokenEstimate {
  const promptTokens = Math.ceil(countPrompt(input.operation, input.body, countWithinBudget(cache.count, EXACT_COUNT_CHARS)));
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, exact: true };
}

function countPrompt(operation: Operation, body: Record<string, unknown>, count: CountTokens): number {
  if (operation === "completions") return countInputs(body.prompt, count);
  if (operation === "embeddings") return countInputs(body.input, count);
  let total = countMessages(body.messages, count);
  // Tool and schema definitions reach the model as text too; their JSON is a fair (slightly high) stand-in.
  for (const field of ["tools", "functions", "response_format"]) {
    const value = body[field];
    if (value !== undefined && value !== null) total += count(JSON.stringify(value));
  }
  return total;
}

function countMessages(messages: unknown, count: CountTokens): number {
  if (!Array.isArray(messages)) return 0;
  let total = REPLY_PRIMER_TOKENS;
  for (const message of messages) {
    if (message === null || typeof message !== "object") continue;
    total += TOKENS_PER_MESSAGE;
    // for…in rather than Object.entries: a body may hold hundreds of thousands of messages.
    for (const key in message) {
      const value: unknown = (message as Record<string, unknown>)[key];
      if (key === "name") total += TOKENS_PER_NAME;
      if (key === "content") total += count(textOfContent(value)) + countImages([message]) * IMAGE_TOKENS;
      else if (typeof value === "string") total += count(value);
      else if (value !== null && typeof value === "object") total += count(JSON.stringify(value));
    }
  }
  return total;
}

/** A string, a list of strings, a list of token ids, or a list of token-id lists. */
function countInputs(input: unknown, count: CountTokens): number {
  if (typeof input === "string") return count(input);
  if (!Array.isArray(input)) return 0;
  let total = 0;
  for (const item of input) {
    if (typeof item === "string") total += count(item);
    else if (typeof item === "number") total += 1;
    else if (Array.isArray(item)) total += item.length;
  }
  return total;
}

function countImages(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  let images = 0;
  for (const message of messages) {
    const content: unknown = message !== null && typeof message === "object" && "content" in message ? message.content : undefined;
    if (!Array.isArray(content)) continue;
    for (const part of content) {
      if (part !== null && typeof part === "object" && "type" in part && part.type === "image_url") images++;
    }
  }
  return images;
}

/** n completions of up to max tokens each (best_of makes the service generate that many). */
export function completionReservation(operation: Operation, body: Record<string, unknown>, defaultMaxTokens: number): number {
  if (operation === "embeddings") return 0;
  const perChoice = positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens) ?? defaultMaxTokens;
  const choices = Math.max(positiveInt(body.n) ?? 1, operation === "completions" ? (positiveInt(body.best_of) ?? 1) : 1);
  return perChoice * choices;
}

function positiveInt(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : undefined;
}

type StringCountCache = { count: CountTokens };

/**
 * Conversations resend their history and apps resend their system prompt, so most strings were counted before.
 * Two generations approximate LRU without per-call bookkeeping: new counts go to `young`; when it holds half the
 * budget it becomes `old` and the previous `old` is dropped; a hit in `old` moves back to `young`.
 */
function createStringCountCache(countText: CountTokens, maxChars: number): StringCountCache {
  let young = new Map<string, number>();
  let old = new Map<string, number>();
  let youngChars = 0;
  const remember = (text: string, tokens: number) => {
    young.set(text, tokens);
    youngChars += text.length;
    if (youngChars * 2 >= maxChars) {
      old = young;
      young = new Map();
      youngChars = 0;
    }
  };
  return {
    count(text) {
      if (text === "") return 0;
      const recent = young.get(text);
      if (recent !== undefined) return recent;
      const earlier = old.get(text);
      if (earlier !== undefined) {
        remember(text, earlier);
        return earlier;
      }
      const tokens = countText(text);
      if (text.length * 2 <= maxChars) remember(text, tokens);
      return tokens;
    },
  };
}
