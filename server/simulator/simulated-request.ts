// Admits or refuses one simulated upstream request the way Azure would, and reads the body fields that shape the answer.
import {
  accessDeniedBody,
  deploymentNotFoundBody,
  deploymentNotMatchedBody,
  invalidApiKeyBody,
  invalidRequestBody,
  missingApiVersionBody,
  modelNotFoundBody,
  type AzureErrorBody,
} from "./azure-error-bodies.ts";
import { readCredential, type AzureRoute, type Operation } from "./azure-route.ts";
import { estimateTokens } from "./azure-wire-bodies.ts";

export type SimulatedRequest = {
  model: string | undefined;
  stream: boolean;
  includeUsage: boolean;
  /** `max_tokens`, else `max_completion_tokens`. */
  maxTokens: number | undefined;
  promptTokens: number;
  embeddingInputs: string[];
  encodingFormat: "float" | "base64";
  dimensions: number | undefined;
};

export type AdmissionPolicy = {
  apiKey: string;
  /** Undefined accepts any deployment name. */
  deployments?: readonly string[] | undefined;
};

export type Admission =
  | { ok: true; deployment: string | undefined; request: SimulatedRequest }
  | { ok: false; status: number; body: AzureErrorBody };

const NO_FIELDS: SimulatedRequest = {
  model: undefined,
  stream: false,
  includeUsage: false,
  maxTokens: undefined,
  promptTokens: 0,
  embeddingInputs: [],
  encodingFormat: "float",
  dimensions: undefined,
};

export function admitSimulatedRequest(route: AzureRoute, headers: Headers, rawBody: string, policy: AdmissionPolicy): Admission {
  if (readCredential(route.form, headers) !== policy.apiKey) {
    return refuse(401, route.form === "openai" ? invalidApiKeyBody() : accessDeniedBody());
  }
  if (route.form === "deployment" && route.apiVersion === undefined) return refuse(400, missingApiVersionBody());
  if (route.operation === "models") return { ok: true, deployment: undefined, request: NO_FIELDS };
  if (route.deployment !== undefined && !isKnown(route.deployment, policy)) return refuse(404, deploymentNotFoundBody());

  const body = parseJson(rawBody);
  if (!isRecord(body)) return refuse(400, invalidRequestBody("The request body must be a JSON object."));
  const fields = readFields(route.operation, body);
  if (typeof fields === "string") return refuse(400, invalidRequestBody(`'${fields}' is a required property`, fields));
  if (body["stream_options"] !== undefined && !supportsStreamOptions(route.apiVersion)) {
    return refuse(400, invalidRequestBody("Unrecognized request argument supplied: stream_options", "stream_options"));
  }

  const deployment = route.deployment ?? fields.model;
  if (deployment === undefined) return refuse(400, invalidRequestBody("you must provide a model parameter", "model"));
  if (!isKnown(deployment, policy)) {
    return refuse(route.form === "openai" ? 404 : 400, route.form === "openai" ? modelNotFoundBody(deployment) : deploymentNotMatchedBody());
  }
  return { ok: true, deployment, request: fields };
}

/** The fields of a parsed body, or the name of the required field that is missing. */
export function readFields(operation: Operation, body: Record<string, unknown>): SimulatedRequest | string {
  const stream = body["stream"] === true;
  const streamOptions = body["stream_options"];
  const base: SimulatedRequest = {
    ...NO_FIELDS,
    model: typeof body["model"] === "string" && body["model"] !== "" ? body["model"] : undefined,
    stream,
    includeUsage: stream && isRecord(streamOptions) && streamOptions["include_usage"] === true,
    maxTokens: readPositiveInt(body["max_tokens"]) ?? readPositiveInt(body["max_completion_tokens"]),
  };
  switch (operation) {
    case "chat": {
      const messages = body["messages"];
      if (!Array.isArray(messages)) return "messages";
      // Azure's chat overhead: 3 tokens per message plus 3 to prime the reply.
      return { ...base, promptTokens: estimateTokens(messages.map(readMessageText).join("\n")) + 3 * messages.length + 3 };
    }
    case "completions":
      return { ...base, promptTokens: estimateTokens(readTexts(body["prompt"]).join("\n")) };
    case "embeddings": {
      const inputs = readTexts(body["input"]);
      if (inputs.length === 0) return "input";
      return {
        ...base,
        stream: false,
        includeUsage: false,
        promptTokens: inputs.reduce((sum, text) => sum + estimateTokens(text), 0),
        embeddingInputs: inputs,
        encodingFormat: body["encoding_format"] === "base64" ? "base64" : "float",
        dimensions: readPositiveInt(body["dimensions"]),
      };
    }
    case "models":
      return base;
  }
}

/** Azure rejects `stream_options` on api-versions older than 2024-09-01-preview; the v1 forms have no version. */
export function supportsStreamOptions(apiVersion: string | undefined): boolean {
  return apiVersion === undefined || apiVersion.slice(0, 10) >= "2024-09-01";
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function refuse(status: number, body: AzureErrorBody): Admission {
  return { ok: false, status, body };
}

function isKnown(deployment: string, policy: AdmissionPolicy): boolean {
  return policy.deployments === undefined || policy.deployments.includes(deployment);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function readPositiveInt(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : undefined;
}

function readMessageText(message: unknown): string {
  if (!isRecord(message)) return "";
  const content = message["content"];
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((part) => (isRecord(part) && typeof part["text"] === "string" ? part["text"] : "")).join("");
}

/** A string, a list of strings, or token ids (one list or several), each as one text to count and seed from. */
function readTexts(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (!Array.isArray(value) || value.length === 0) return [];
  if (value.every((item) => typeof item === "number")) return [value.join(" ")];
  return value.map((item) => (typeof item === "string" ? item : Array.isArray(item) ? item.join(" ") : ""));
}
