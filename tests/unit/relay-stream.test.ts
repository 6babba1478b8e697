import { describe, expect, it } from "bun:test";
import {
  awaitFirstContent,
  firstContentIn,
  relayEndedNow,
  relayStream,
  type ByteReader,
  type StreamEnd,
  type StreamRelayOptions,
} from "../../server/proxy/relay-stream.ts";
import { createStreamTap } from "../../server/proxy/stream-tap.ts";

const frame = (payload: unknown) => `data: ${JSON.stringify(payload)}\n\n`;
const usage = { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 };
const PRELUDE = frame({ choices: [], prompt_filter_results: [{ prompt_index: 0 }] });
const FIRST = frame({ choices: [{ delta: { content: "Hel" } }] });
const REST = frame({ choices: [{ delta: { content: "lo" }, finish_reason: "stop" }] });
const USAGE = frame({ choices: [], usage });
const DONE = "data: [DONE]\n\n";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An upstream body the test feeds by hand: nothing arrives until `push`, and it ends only on `end`. */
function upstream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  return {
    body,
    push: (text: string) => controller.enqueue(encoder.encode(text)),
    end: () => controller.close(),
    fail: () => controller.error(new Error("connection reset")),
  };
}

async function relay(source: ReturnType<typeof upstream>, afterFirstContent = () => {}) {
  // The DOM and Bun typings of a reader's done result disagree; the object is the same.
  const reader = source.body.getReader() as ByteReader;
  const tap = createStreamTap({ dropUsageFrame: true, holdDone: false, wantText: false });
  const first = await awaitFirstContent(reader, tap);
  if (!first.ok) throw new Error(`no first content: ${first.reason}`);
  afterFirstContent();
  const ends: StreamEnd[] = [];
  const options: StreamRelayOptions = {
    reader,
    tap,
    held: first.held,
    appendUsageFrame: null,
    countUsage: async () => null,
    countedExactly: false,
    idleTimeoutMs: 1000,
    abortUpstream: () => {},
    onEnd: (end) => ends.push(end),
  };
  return { body: await relayStream(options), ends };
}

describe("relayStream", () => {
  it("answers in one piece, already settled, when the upstream had finished by the first content", async () => {
    const source = upstream();
    source.push(PRELUDE + FIRST + REST + USAGE + DONE);
    source.end();
    const { body, ends } = await relay(source);
    expect(body).toBeInstanceOf(Uint8Array);
    expect(decoder.decode(body as Uint8Array)).toBe(PRELUDE + FIRST + REST + DONE);
    expect(ends).toEqual([{ outcome: "completed", usage, usageSource: "upstream" }]);
  });

  it("streams, sending the first content before the upstream has finished, when the upstream is still going", async () => {
    const source = upstream();
    source.push(PRELUDE + FIRST);
    const { body, ends } = await relay(source);
    expect(body).toBeInstanceOf(ReadableStream);
    const reader = (body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(decoder.decode(first.value)).toBe(PRELUDE + FIRST);
    expect(ends).toEqual([]);
    source.push(REST + USAGE + DONE);
    source.end();
    let rest = "";
    for (let next = await reader.read(); !next.done; next = await reader.read()) rest += decoder.decode(next.value);
    expect(rest).toBe(REST + DONE);
    expect(ends).toEqual([{ outcome: "completed", usage, usageSource: "upstream" }]);
  });

  it("streams what it holds and reports the cut in-band when the upstream fails after the first content", async () => {
    const source = upstream();
    source.push(PRELUDE + FIRST);
    const { body, ends } = await relay(source, source.fail);
    expect(body).toBeInstanceOf(ReadableStream);
    const text = await new Response(body as ReadableStream<Uint8Array>).text();
    expect(text.startsWith(PRELUDE + FIRST)).toBe(true);
    expect(text).toContain('"code":"upstream_bad_response"');
    expect(ends.map((end) => end.outcome)).toEqual(["upstream_failed"]);
  });
});

describe("a stream that had ended by the time its head was read", () => {
  const tapOf = () => createStreamTap({ dropUsageFrame: true, holdDone: false, wantText: false });

  it("is relayed at once, settled with the upstream's usage, when nothing needs counting or appending", () => {
    const tap = tapOf();
    const first = firstContentIn(encoder.encode(PRELUDE + FIRST + REST + USAGE + DONE), tap);
    if (!first.ok) throw new Error("expected content");
    const ends: StreamEnd[] = [];
    const body = relayEndedNow({ tap, held: first.held, appendUsageFrame: null, onEnd: (end) => ends.push(end) });
    expect(decoder.decode(body!)).toBe(PRELUDE + FIRST + REST + DONE);
    expect(ends).toEqual([{ outcome: "completed", usage, usageSource: "upstream" }]);
  });

  it("passes an unterminated last frame on as it came", () => {
    const tap = tapOf();
    const first = firstContentIn(encoder.encode(PRELUDE + FIRST + USAGE + "data: [DONE]"), tap);
    if (!first.ok) throw new Error("expected content");
    const body = relayEndedNow({ tap, held: first.held, appendUsageFrame: null, onEnd: () => {} });
    expect(decoder.decode(body!)).toBe(PRELUDE + FIRST + "data: [DONE]");
  });

  it("is left to relayStream when usage must be counted or appended, and settles nothing meanwhile", () => {
    const ends: StreamEnd[] = [];
    const withoutUsage = tapOf();
    const first = firstContentIn(encoder.encode(PRELUDE + FIRST + REST + DONE), withoutUsage);
    if (!first.ok) throw new Error("expected content");
    expect(relayEndedNow({ tap: withoutUsage, held: first.held, appendUsageFrame: null, onEnd: (end) => ends.push(end) })).toBeNull();
    const withUsage = tapOf();
    const again = firstContentIn(encoder.encode(PRELUDE + FIRST + USAGE + DONE), withUsage);
    if (!again.ok) throw new Error("expected content");
    expect(relayEndedNow({ tap: withUsage, held: again.held, appendUsageFrame: "chat.completion.chunk", onEnd: (end) => ends.push(end) })).toBeNull();
    expect(ends).toEqual([]);
  });

  it("has no first content when it holds only the prelude", () => {
    expect(firstContentIn(encoder.encode(PRELUDE), tapOf())).toEqual({ ok: false, reason: "ended" });
  });
});
