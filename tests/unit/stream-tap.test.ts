import { describe, expect, it } from "bun:test";
import { createStreamTap, type StreamTapOptions } from "../../server/proxy/stream-tap.ts";

const frame = (payload: unknown) => `data: ${JSON.stringify(payload)}\n\n`;
const usage = { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 };
const PRELUDE = frame({ choices: [], prompt_filter_results: [{ prompt_index: 0 }] }) + frame({ choices: [{ delta: { role: "assistant", content: "" } }] });
const CONTENT = ["Hel", "lo", "!"].map((text) => frame({ choices: [{ delta: { content: text } }] })).join("");
const FINISH = frame({ choices: [{ delta: {}, finish_reason: "stop" }] });
const USAGE = frame({ choices: [], usage });
const DONE = "data: [DONE]\n\n";
const STREAM = PRELUDE + CONTENT + FINISH + USAGE + DONE;

const options: StreamTapOptions = { dropUsageFrame: true, holdDone: false, wantText: false };
const decoder = new TextDecoder();

/** Feeds the stream in pieces of `size` bytes and returns what the tap forwards. */
function run(size: number, tapOptions: StreamTapOptions = options) {
  const tap = createStreamTap(tapOptions);
  const bytes = new TextEncoder().encode(STREAM);
  let out = "";
  for (let at = 0; at < bytes.length; at += size) {
    const forwarded = tap.process(bytes.slice(at, at + size));
    if (forwarded) out += decoder.decode(forwarded);
  }
  return { tap, out };
}

describe("stream tap", () => {
  it("forwards a whole stream in one chunk without the usage frame it asked for itself", () => {
    const { tap, out } = run(1 << 20);
    expect(out).toBe(PRELUDE + CONTENT + FINISH + DONE);
    expect(tap.state).toMatchObject({ usage, sawDone: true, sawContent: true });
  });

  it("forwards the same bytes whatever the chunking, and counts frames while no usage is known", () => {
    for (const size of [1, 7, 64, 200]) {
      const { tap, out } = run(size);
      expect(out).toBe(PRELUDE + CONTENT + FINISH + DONE);
      expect(tap.state.usage).toEqual(usage);
    }
    // Cut before the usage frame: the content frames (3 pieces + finish) estimate the completion.
    const tap = createStreamTap(options);
    tap.process(new TextEncoder().encode(PRELUDE + CONTENT + FINISH));
    expect(tap.state.usage).toBeNull();
    expect(tap.state.contentFrames).toBe(4);
  });

  it("reads only the usage frame before [DONE] in a chunk that ends the stream, and scans a chunk shaped otherwise", () => {
    const early = frame({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
    // Usage last before [DONE], as include_usage sends it: an earlier usage-only frame is not looked for.
    const ending = createStreamTap(options);
    const out = ending.process(new TextEncoder().encode(PRELUDE + CONTENT + early + FINISH + USAGE + DONE));
    expect(decoder.decode(out!)).toBe(PRELUDE + CONTENT + early + FINISH + DONE);
    expect(ending.state).toMatchObject({ usage, sawDone: true });
    // Anything after [DONE], or no usage right before it: every usage frame is found and dropped.
    for (const stream of [PRELUDE + CONTENT + early + FINISH + USAGE + DONE + ": bye\n\n", PRELUDE + CONTENT + USAGE + FINISH + DONE]) {
      const tap = createStreamTap(options);
      const forwarded = decoder.decode(tap.process(new TextEncoder().encode(stream))!);
      expect(forwarded).not.toContain('"usage":{');
      expect(tap.state.usage).toEqual(usage);
    }
    // A usage frame before [DONE] that holds no counts: the whole scan decides, and counts frames for an estimate
    // (the 3 pieces, the finish, and that frame, which is no usage frame without counts).
    const empty = createStreamTap(options);
    empty.process(new TextEncoder().encode(PRELUDE + CONTENT + FINISH + frame({ choices: [], usage: {} }) + DONE));
    expect(empty.state).toMatchObject({ usage: null, sawDone: true, contentFrames: 5 });
  });

  it("takes a whole stream that ends with its usage frame as having content, as reading it frame by frame does", () => {
    const none = { prompt_tokens: 12, completion_tokens: 0, total_tokens: 12 };
    const refused = PRELUDE + frame({ choices: [], usage: none }) + DONE;
    const whole = createStreamTap(options);
    expect(decoder.decode(whole.process(new TextEncoder().encode(refused))!)).toBe(PRELUDE + DONE);
    expect(whole.state).toMatchObject({ sawContent: true, sawDone: true, usage: none });
    // The same stream a frame at a time: the usage frame is where content is seen.
    const byFrame = createStreamTap(options);
    let out = "";
    for (const part of refused.split(/(?<=\n\n)/)) out += decoder.decode(byFrame.process(new TextEncoder().encode(part)) ?? new Uint8Array());
    expect(out).toBe(PRELUDE + DONE);
    expect(byFrame.state).toMatchObject({ sawContent: true, sawDone: true, usage: none });
  });

  it("keeps the usage frame when the client asked for it, and returns an unchanged chunk as it came", () => {
    const tap = createStreamTap({ ...options, dropUsageFrame: false });
    const first = new TextEncoder().encode(PRELUDE + CONTENT);
    tap.process(first);
    const rest = new TextEncoder().encode(FINISH + USAGE + DONE);
    expect(tap.process(rest)).toBe(rest);
  });
});
