import { describe, expect, it } from "bun:test";
import { contentOfCompactChunk, createFrameSplitter, dataOf, inspectFrame, isContentChunk } from "../../server/proxy/sse.ts";
import { buildChatStreamFrames, buildCompletionStreamFrames } from "../../server/simulator/azure-wire-bodies.ts";
import { readUsageFromBody } from "../../server/proxy/usage.ts";

const usage = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 };

describe("createFrameSplitter", () => {
  it("returns whole frames and holds a partial tail until it completes", () => {
    const split = createFrameSplitter();
    expect(split.push('data: {"a":1}\n\ndata: {"b"')).toEqual(['data: {"a":1}\n\n']);
    expect(split.pending).toBe('data: {"b"');
    expect(split.push(':2}\n\n')).toEqual(['data: {"b":2}\n\n']);
    expect(split.pending).toBe("");
  });

  it("accepts CRLF frame endings", () => {
    expect(createFrameSplitter().push("data: x\r\n\r\ndata: y\r\n\r\n")).toEqual(["data: x\r\n\r\n", "data: y\r\n\r\n"]);
  });
});

describe("inspectFrame", () => {
  it("finds usage in the usage-only frame and marks it", () => {
    const info = inspectFrame(`data: ${JSON.stringify({ id: "c", choices: [], usage })}\n\n`, false);
    expect(info).toEqual({ done: false, usageOnly: true, usage, text: "", malformed: false, content: true });
  });

  it("does not parse frames whose usage is null unless text is wanted", () => {
    const frame = 'data: {"choices":[{"delta":{"content":"Hi"}}],"usage":null}\n\n';
    expect(inspectFrame(frame, false).text).toBe("");
    expect(inspectFrame(frame, true)).toEqual({ done: false, usageOnly: false, usage: null, text: "Hi", malformed: false, content: true });
  });

  it("handles Azure's empty-choices prompt-filter frame without indexing choices", () => {
    const frame = `data: ${JSON.stringify({ choices: [], created: 0, id: "", model: "", object: "", prompt_filter_results: [] })}\n\n`;
    expect(inspectFrame(frame, true)).toEqual({ done: false, usageOnly: false, usage: null, text: "", malformed: false, content: false });
  });

  it("reads legacy completion text and [DONE]", () => {
    expect(inspectFrame('data: {"choices":[{"text":"abc"}]}\n\n', true).text).toBe("abc");
    expect(inspectFrame("data: [DONE]\n\n", false).done).toBe(true);
  });

  it("flags a malformed frame", () => {
    expect(inspectFrame("data: {not json\n\n", true).malformed).toBe(true);
  });

  it("tells the role frame (no content yet) from a content frame in the same parse", () => {
    expect(inspectFrame('data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n', true).content).toBe(false);
    expect(inspectFrame('data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n', true).content).toBe(true);
    expect(inspectFrame('data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n', true).content).toBe(true);
  });

  it("joins multi-line data fields", () => {
    expect(dataOf("event: x\ndata: a\ndata: b\n\n")).toBe("a\nb");
  });
});

describe("readUsageFromBody", () => {
  const encode = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

  it("reads the top-level usage object", () => {
    expect(readUsageFromBody(encode({ choices: [{ message: { content: "x" } }], usage }))).toEqual(usage);
  });

  it("ignores the word usage quoted inside a string", () => {
    const body = { choices: [{ message: { content: '{"usage":{"prompt_tokens":999}}' } }], usage };
    expect(readUsageFromBody(encode(body))).toEqual(usage);
    expect(readUsageFromBody(encode({ usage, note: 'say "usage' }))).toEqual(usage);
  });

  it("fills completion_tokens for embeddings, which report none", () => {
    expect(readUsageFromBody(encode('{"data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}'))).toEqual({
      prompt_tokens: 8,
      completion_tokens: 0,
      total_tokens: 8,
    });
  });

  it("returns null when there is no usage", () => {
    expect(readUsageFromBody(encode('{"choices":[]}'))).toBeNull();
    expect(readUsageFromBody(encode('{"choices":[],"usage":null}'))).toBeNull();
    expect(readUsageFromBody(encode('{"usage":{"completion_tokens":3}}'))).toBeNull();
    expect(readUsageFromBody(encode('{"usage":{"prompt_tokens":3'))).toBeNull();
  });

  it("reads Azure's counts past nested details, whitespace and escaped strings, as JSON.parse would", () => {
    const azure = {
      usage: {
        completion_tokens: 46,
        completion_tokens_details: { accepted_prediction_tokens: 0, audio_tokens: 0, reasoning_tokens: 7, rejected_prediction_tokens: 0 },
        prompt_tokens: 238,
        prompt_tokens_details: { audio_tokens: 0, cached_tokens: 128, note: 'a "}" and a \\ inside', total_tokens: 1 },
        total_tokens: 284,
      },
    };
    expect(readUsageFromBody(encode(azure))).toEqual({ prompt_tokens: 238, completion_tokens: 46, total_tokens: 284 });
    expect(readUsageFromBody(encode(JSON.stringify(azure, null, 2)))).toEqual({ prompt_tokens: 238, completion_tokens: 46, total_tokens: 284 });
    // The last of a repeated key counts; a fraction or exponent that is whole still counts; anything else does not.
    expect(readUsageFromBody(encode('{"usage":{"prompt_tokens":1,"prompt_tokens":5,"completion_tokens":2.0,"total_tokens":7e0}}'))).toEqual({
      prompt_tokens: 5,
      completion_tokens: 2,
      total_tokens: 7,
    });
    expect(readUsageFromBody(encode('{"usage":{"prompt_tokens":5,"completion_tokens":"2","total_tokens":-1}}'))).toEqual({
      prompt_tokens: 5,
      completion_tokens: 0,
      total_tokens: 5,
    });
    expect(readUsageFromBody(encode('{"usage":{"prompt_tokens":2.5}}'))).toBeNull();
    expect(readUsageFromBody(encode('{"usage":{"prompt_tokens":null}}'))).toBeNull();
  });

  it("finds usage in a large body from its tail", () => {
    const body = new TextEncoder().encode(JSON.stringify({ data: [{ embedding: "A".repeat(20_000) }], usage }));
    expect(readUsageFromBody(body)).toEqual(usage);
  });

  it("reads the usage key in a body, not the word quoted after it, nor a body without one", () => {
    const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    expect(readUsageFromBody(encode({ usage, note: 'the "usage" word', more: '"usage":{"prompt_tokens":99}' }))).toEqual(usage);
    expect(readUsageFromBody(encode({ choices: [{ message: { content: 'about "usage":{"prompt_tokens":5}' } }] }))).toBeNull();
    expect(readUsageFromBody(encode({ choices: [] }))).toBeNull();
  });
});

describe("contentOfCompactChunk", () => {
  const chunk = (payload: unknown) => JSON.stringify(payload);
  const simulated = [
    ...buildChatStreamFrames({ id: "c1", model: "gpt-4o", created: 1, pieces: ["Hel", "lo"], finishReason: "stop", includeUsage: true, promptTokens: 3 }),
    ...buildCompletionStreamFrames({ id: "c2", model: "gpt-35-turbo", created: 1, pieces: ["Hel", "lo"], finishReason: "length", includeUsage: false, promptTokens: 3 }),
  ]
    .map((frame) => dataOf(frame))
    .filter((data) => data !== "" && data !== "[DONE]");
  const crafted = [
    chunk({ choices: [], prompt_filter_results: [{ prompt_index: 0 }] }),
    chunk({ choices: [{ delta: { content: "", role: "assistant" }, finish_reason: null, index: 0 }] }),
    chunk({ choices: [{ delta: { content: "Hi" }, finish_reason: null }] }),
    chunk({ choices: [{ delta: {}, finish_reason: "stop" }] }),
    chunk({ choices: [{ delta: { tool_calls: [{ index: 0, function: { name: "f", arguments: "" } }] }, finish_reason: null }] }),
    chunk({ choices: [{ delta: { function_call: { name: "f" } }, finish_reason: null }] }),
    chunk({ choices: [{ text: "", finish_reason: null }] }),
    chunk({ choices: [{ text: "abc", finish_reason: null }] }),
    // n = 2: the second choice has the content.
    chunk({ choices: [{ delta: { content: "" }, finish_reason: null }, { delta: { content: "x" }, finish_reason: null }] }),
    // Key-looking text inside a string value is escaped, so it must not count.
    chunk({ choices: [{ delta: { content: "", role: "assistant", refusal: '"content":"y", "finish_reason":"stop"' }, finish_reason: null }] }),
    chunk({ choices: [{ delta: { content: "" }, logprobs: { content: [{ token: "a" }] }, finish_reason: null }] }),
    chunk({ id: "no choices" }),
  ];

  it("never disagrees with parsing the chunk, on simulated Azure frames and on hand-made ones", () => {
    let decided = 0;
    for (const data of [...simulated, ...crafted]) {
      const fast = contentOfCompactChunk(data);
      if (fast === undefined) continue;
      decided++;
      expect({ data, content: fast }).toEqual({ data, content: isContentChunk(JSON.parse(data)) });
    }
    // Azure's frames are all decided without a parse.
    expect(decided).toBeGreaterThanOrEqual(simulated.length);
  });

  it("leaves to the parser what the text cannot settle: spaced JSON, non-objects, a list of non-objects", () => {
    expect(contentOfCompactChunk('{"choices": [{"delta": {"content": "Hi"}}]}')).toBeUndefined();
    expect(contentOfCompactChunk("42")).toBeUndefined();
    expect(contentOfCompactChunk('{"choices":[1]}')).toBeUndefined();
  });

  it("reads prelude frames without parsing them, as inspectFrame does when content is asked for", () => {
    const role = `data: ${chunk({ choices: [{ delta: { content: "", role: "assistant" }, finish_reason: null }] })}\n\n`;
    const first = `data: ${chunk({ choices: [{ delta: { content: "Hi" }, finish_reason: null }] })}\n\n`;
    expect(inspectFrame(role, false, true).content).toBe(false);
    expect(inspectFrame(first, false, true).content).toBe(true);
    // Without needContent nothing is read at all.
    expect(inspectFrame(first, false).content).toBe(false);
  });
});
