// Token counts for when Azure reports none (streams on api-versions without include_usage): a real BPE tokenizer per model family.
import { countInPieces } from "./bounded-count.ts";

export type Encoding = "o200k_base" | "cl100k_base";
export type CountTokens = (text: string) => number;

/** Deployment names are arbitrary, so the encoding follows the model name the client asked for. */
export function encodingForModel(model: string): Encoding {
  const name = model.toLowerCase();
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o)/.test(name)) return "o200k_base";
  if (/^(gpt-4|gpt-35|gpt-3\.5|text-embedding)/.test(name)) return "cl100k_base";
  return "o200k_base";
}

// The BPE tables are tens of megabytes: load each one on first use, not at start.
const loaded = new Map<Encoding, Promise<CountTokens>>();

function loadEncoding(encoding: Encoding): Promise<CountTokens> {
  let pending = loaded.get(encoding);
  if (!pending) {
    pending = (
      encoding === "o200k_base" ? import("gpt-tokenizer/encoding/o200k_base") : import("gpt-tokenizer/encoding/cl100k_base")
    ).then((module) => {
      const countPiece = (piece: string) => module.countTokens(piece, { disallowedSpecial: new Set() });
      return (text: string) => countInPieces(text, countPiece);
    });
    loaded.set(encoding, pending);
  }
  return pending;
}

/** The synchronous counter for a model's encoding, once its table is loaded (for callers that count many strings). */
export function loadTokenCounter(model: string): Promise<CountTokens> {
  return loadEncoding(encodingForModel(model));
}

export async function countTextTokens(text: string, model: string): Promise<number> {
  if (text === "") return 0;
  const count = await loadEncoding(encodingForModel(model));
  return count(text);
}

// OpenAI's documented chat framing: 3 tokens per message, 1 more per name, 3 to prime the reply.
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const REPLY_PRIMER_TOKENS = 3;

export async function countChatPromptTokens(messages: unknown, model: string): Promise<number> {
  if (!Array.isArray(messages)) return 0;
  const count = await loadEncoding(encodingForModel(model));
  let total = REPLY_PRIMER_TOKENS;
  for (const message of messages) {
    if (message === null || typeof message !== "object") continue;
    total += TOKENS_PER_MESSAGE;
    for (const [key, value] of Object.entries(message)) {
      if (key === "name") total += TOKENS_PER_NAME;
      const text = key === "content" ? textOfContent(value) : typeof value === "string" ? value : "";
      if (text) total += count(text);
    }
  }
  return total;
}

/** Prompts for completions and inputs for embeddings: a string or a list of strings. */
export async function countPromptListTokens(prompt: unknown, model: string): Promise<number> {
  const texts = typeof prompt === "string" ? [prompt] : Array.isArray(prompt) ? prompt.filter((p) => typeof p === "string") : [];
  let total = 0;
  for (const text of texts) total += await countTextTokens(text, model);
  return total;
}

export function textOfContent(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part) => (part && typeof part === "object" && "text" in part && typeof part.text === "string" ? part.text : ""))
    .join("");
}
