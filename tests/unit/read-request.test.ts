import { describe, expect, it } from "bun:test";
import { ProxyError } from "../../server/errors.ts";
import { parseProxyRequest, readBodyWithin } from "../../server/proxy/read-request.ts";

const bytes = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

function errorOf(run: () => unknown) {
  try {
    run();
  } catch (error) {
    if (error instanceof ProxyError) return error.toJSON().error;
    throw error;
  }
  throw new Error("expected a ProxyError");
}

describe("parseProxyRequest", () => {
  it("reads model, stream and whether the client asked for usage", () => {
    const parsed = parseProxyRequest(
      "chat/completions",
      bytes({ model: "gpt-4o", messages: [], stream: true, stream_options: { include_usage: true }, tools: [{ x: 1 }] }),
    );
    expect(parsed).toMatchObject({ model: "gpt-4o", stream: true, clientWantsUsage: true });
    expect(parsed.body.tools).toEqual([{ x: 1 }]);
  });

  it("never streams embeddings", () => {
    expect(parseProxyRequest("embeddings", bytes({ model: "e", input: "x", stream: true })).stream).toBe(false);
  });

  it("takes the model from an Azure-style path", () => {
    expect(parseProxyRequest("chat/completions", bytes({ messages: [] }), "gpt-4o").model).toBe("gpt-4o");
  });

  it("rejects bad JSON", () => {
    expect(errorOf(() => parseProxyRequest("chat/completions", bytes("{nope")))).toEqual({
      message: "We could not parse the JSON body of your request.",
      type: "invalid_request_error",
      param: null,
      code: "invalid_json",
    });
  });

  it("rejects a body that is not an object", () => {
    expect(errorOf(() => parseProxyRequest("chat/completions", bytes([1, 2]))).code).toBe("invalid_request");
  });

  it("names a missing model", () => {
    expect(errorOf(() => parseProxyRequest("chat/completions", bytes({ messages: [] })))).toEqual({
      message: "Missing required parameter: 'model'.",
      type: "invalid_request_error",
      param: "model",
      code: "missing_required_parameter",
    });
  });

  it("names an ill-typed model", () => {
    expect(errorOf(() => parseProxyRequest("chat/completions", bytes({ model: 4, messages: [] })))).toMatchObject({
      param: "model",
      code: "invalid_type",
    });
  });

  it("names missing messages, prompt and input per operation", () => {
    expect(errorOf(() => parseProxyRequest("chat/completions", bytes({ model: "m" }))).param).toBe("messages");
    expect(errorOf(() => parseProxyRequest("completions", bytes({ model: "m" }))).param).toBe("prompt");
    expect(errorOf(() => parseProxyRequest("embeddings", bytes({ model: "m" }))).param).toBe("input");
    expect(errorOf(() => parseProxyRequest("chat/completions", bytes({ model: "m", messages: "hi" })))).toMatchObject({
      param: "messages",
      code: "invalid_type",
    });
  });

  it("names an ill-typed stream flag", () => {
    expect(errorOf(() => parseProxyRequest("chat/completions", bytes({ model: "m", messages: [], stream: "yes" }))).param).toBe("stream");
  });
});

describe("readBodyWithin", () => {
  it("refuses a declared length over the limit before reading", async () => {
    const request = new Request("http://x/", { method: "POST", body: "x".repeat(20), headers: { "content-length": "20" } });
    await expect(readBodyWithin(request, 10)).rejects.toMatchObject({ code: "request_too_large", status: 413 });
  });

  it("counts a chunked body while reading it", async () => {
    const body = new ReadableStream({
      pull(controller) {
        controller.enqueue(new Uint8Array(8));
        controller.enqueue(new Uint8Array(8));
        controller.close();
      },
    });
    const request = new Request("http://x/", { method: "POST", body });
    await expect(readBodyWithin(request, 10)).rejects.toMatchObject({ code: "request_too_large" });
  });

  it("returns a body within the limit", async () => {
    const request = new Request("http://x/", { method: "POST", body: "hello" });
    expect(new TextDecoder().decode(await readBodyWithin(request, 10))).toBe("hello");
  });
});
