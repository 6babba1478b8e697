// What a successful simulated upstream answers for one admitted request: a JSON body or SSE frames, plus Azure's headers.
import type { Operation } from "./azure-route.ts";
import {
  buildChatCompletion,
  buildChatStreamFrames,
  buildCompletion,
  buildCompletionStreamFrames,
  buildEmbeddings,
  buildModelsList,
  type FinishReason,
} from "./azure-wire-bodies.ts";
import type { SimulatedRequest } from "./simulated-request.ts";

export type SimulatedAnswer = { kind: "json"; body: unknown } | { kind: "sse"; frames: string[] };

export type AnswerInput = {
  operation: Operation;
  request: SimulatedRequest;
  /** Echoed as `model`; Azure would name the base model, the simulator only knows the deployment. */
  model: string;
  /** The full reply; `max_tokens` cuts it short with finish_reason "length". */
  pieces: readonly string[];
  idSuffix: string;
  createdSec: number;
  embeddingDimensions: number;
  modelIds: readonly string[];
};

export type AzureHeaderInput = {
  requestId: string;
  region: string;
  /** Negative means no limit is configured: Azure-speak for "unknown". */
  remainingRequests: number;
  remainingTokens: number;
};

export const SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8";
export const JSON_CONTENT_TYPE = "application/json";

export function buildSimulatedAnswer(input: AnswerInput): SimulatedAnswer {
  const { operation, request } = input;
  if (operation === "models") return { kind: "json", body: buildModelsList(input.modelIds, input.createdSec) };
  if (operation === "embeddings") {
    return {
      kind: "json",
      body: buildEmbeddings({
        model: input.model,
        inputs: request.embeddingInputs,
        dimensions: request.dimensions ?? input.embeddingDimensions,
        encodingFormat: request.encodingFormat,
        promptTokens: request.promptTokens,
      }),
    };
  }
  const truncated = request.maxTokens !== undefined && request.maxTokens < input.pieces.length;
  const pieces = truncated ? input.pieces.slice(0, request.maxTokens) : input.pieces;
  const finishReason: FinishReason = truncated ? "length" : "stop";
  const id = `${operation === "chat" ? "chatcmpl-" : "cmpl-"}${input.idSuffix}`;
  const common = { id, model: input.model, created: input.createdSec, promptTokens: request.promptTokens, finishReason };
  if (request.stream) {
    const stream = { ...common, pieces, includeUsage: request.includeUsage };
    return { kind: "sse", frames: operation === "chat" ? buildChatStreamFrames(stream) : buildCompletionStreamFrames(stream) };
  }
  const content = pieces.join("");
  return {
    kind: "json",
    body:
      operation === "chat"
        ? buildChatCompletion({ ...common, content, completionTokens: pieces.length })
        : buildCompletion({ ...common, text: content, completionTokens: pieces.length }),
  };
}

export function buildAzureHeaders(input: AzureHeaderInput, contentType: string): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": contentType,
    "apim-request-id": input.requestId,
    "x-request-id": input.requestId,
    "x-ms-region": input.region,
    "x-ratelimit-remaining-requests": String(Math.max(-1, input.remainingRequests)),
    "x-ratelimit-remaining-tokens": String(Math.max(-1, input.remainingTokens)),
  };
  if (contentType === SSE_CONTENT_TYPE) headers["cache-control"] = "no-cache";
  return headers;
}
