// Reads a client's request body within the size limit and picks out the few fields the proxy needs; the rest passes through untouched.
import { ProxyError } from "../errors.ts";
import type { Operation } from "../providers/azure/url.ts";
import { exceedsJsonDepth } from "./json-depth.ts";

/**
 * Far deeper than any real request (a structured-output schema nests a few dozen levels at most), and shallow enough
 * that parsing, tokenizing and re-serialising the body can never exhaust the stack.
 */
export const MAX_JSON_DEPTH = 128;

export type ProxyRequest = {
  operation: Operation;
  model: string;
  stream: boolean;
  /** The client asked for the usage frame itself (stream_options.include_usage). */
  clientWantsUsage: boolean;
  /** The parsed body: only read, never mutated; the upstream gets the original bytes unless something must change. */
  body: Record<string, unknown>;
  bytes: Uint8Array;
};

/** Enforces the limit while reading, so a chunked body without Content-Length cannot grow past it either. */
export async function readBodyWithin(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  try {
    if (declared !== null) return await request.bytes();
    if (!request.body) return new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of request.body) {
      size += chunk.byteLength;
      if (size > maxBytes) throw tooLarge(maxBytes);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  } catch (error) {
    if (error instanceof ProxyError) throw error;
    // Bun closes a connection whose body stops arriving (limits.client_idle_timeout): the client's fault, not ours.
    throw new ProxyError("request_timeout", "The request body did not arrive completely.", { cause: error });
  }
}

function tooLarge(maxBytes: number): ProxyError {
  return new ProxyError("request_too_large", `Request body is larger than the limit of ${maxBytes} bytes.`);
}

const decoder = new TextDecoder();

/**
 * @param modelFromPath Azure-style paths name the deployment in the URL; the body's `model` is then optional.
 */
export function parseProxyRequest(operation: Operation, bytes: Uint8Array, modelFromPath?: string): ProxyRequest {
  const text = decoder.decode(bytes);
  if (exceedsJsonDepth(text, MAX_JSON_DEPTH)) {
    throw new ProxyError("invalid_request", `The JSON body nests deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ProxyError("invalid_json", "We could not parse the JSON body of your request.");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new ProxyError("invalid_request", "The request body must be a JSON object.");
  }
  const fields = body as Record<string, unknown>;
  const model = modelFromPath ?? requireString(fields, "model");
  if (modelFromPath !== undefined && fields.model !== undefined && typeof fields.model !== "string") {
    throw invalidType("model", "a string");
  }
  const required = REQUIRED_FIELD[operation];
  if (fields[required.name] === undefined) {
    throw new ProxyError("missing_required_parameter", `Missing required parameter: '${required.name}'.`, {
      param: required.name,
    });
  }
  if (!required.accepts(fields[required.name])) throw invalidType(required.name, required.expected);
  if (fields.stream !== undefined && fields.stream !== null && typeof fields.stream !== "boolean") {
    throw invalidType("stream", "a boolean");
  }
  const streamOptions = fields.stream_options;
  if (streamOptions !== undefined && streamOptions !== null && (typeof streamOptions !== "object" || Array.isArray(streamOptions))) {
    throw invalidType("stream_options", "an object");
  }
  const stream = fields.stream === true && operation !== "embeddings";
  const clientWantsUsage =
    stream && (streamOptions as { include_usage?: unknown } | null | undefined)?.include_usage === true;
  return { operation, model, stream, clientWantsUsage, body: fields, bytes };
}

const isString = (value: unknown) => typeof value === "string";
const isStringOrList = (value: unknown) => isString(value) || Array.isArray(value);

const REQUIRED_FIELD: Record<Operation, { name: string; expected: string; accepts: (value: unknown) => boolean }> = {
  "chat/completions": { name: "messages", expected: "an array", accepts: Array.isArray },
  completions: { name: "prompt", expected: "a string or an array", accepts: isStringOrList },
  embeddings: { name: "input", expected: "a string or an array", accepts: isStringOrList },
};

function requireString(fields: Record<string, unknown>, name: string): string {
  const value = fields[name];
  if (value === undefined || value === null) {
    throw new ProxyError("missing_required_parameter", `Missing required parameter: '${name}'.`, { param: name });
  }
  if (typeof value !== "string" || value === "") throw invalidType(name, "a non-empty string");
  return value;
}

function invalidType(name: string, expected: string): ProxyError {
  return new ProxyError("invalid_type", `Invalid type for '${name}': expected ${expected}.`, { param: name });
}
