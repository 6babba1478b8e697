import { describe, expect, it } from "bun:test";
import { createBodyQueue, type BodyFlow } from "../../server/upstream/body-queue.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytesOf = (text: string) => encoder.encode(text);
const MIB = 1024 * 1024;

/** A queue whose flow control only counts what it was asked to do. */
function queue() {
  const calls = { pause: 0, resume: 0, cancel: 0 };
  const flow: BodyFlow = {
    pause: () => void calls.pause++,
    resume: () => void calls.resume++,
    cancel: () => void calls.cancel++,
  };
  return { ...createBodyQueue(flow), calls };
}

describe("body queue reads", () => {
  it("makes a read wait until bytes are pushed", async () => {
    const body = queue();
    const read = body.reader.read();
    expect(Bun.peek.status(read)).toBe("pending");
    body.push(bytesOf("hello"));
    const result = await read;
    expect(result.done).toBe(false);
    expect(decoder.decode(result.value)).toBe("hello");
  });

  it("returns every chunk pushed before a read joined in one read, then waits again", async () => {
    const body = queue();
    body.push(bytesOf("a"));
    body.push(bytesOf("bc"));
    body.push(bytesOf("def"));
    const first = await body.reader.read();
    expect(first.done).toBe(false);
    expect(decoder.decode(first.value)).toBe("abcdef");
    const next = body.reader.read();
    expect(Bun.peek.status(next)).toBe("pending");
    body.push(bytesOf("g"));
    expect(decoder.decode((await next).value)).toBe("g");
  });

  it("hands a single queued chunk back as it came", async () => {
    const body = queue();
    const chunk = bytesOf("once");
    body.push(chunk);
    expect((await body.reader.read()).value).toBe(chunk);
  });

  it("ignores an empty push: the read still waits", () => {
    const body = queue();
    const read = body.reader.read();
    body.push(new Uint8Array(0));
    expect(Bun.peek.status(read)).toBe("pending");
  });

  it("reads the queued bytes before done once the body has ended, and done from then on", async () => {
    const body = queue();
    body.push(bytesOf("last"));
    body.end();
    expect(decoder.decode((await body.reader.read()).value)).toBe("last");
    expect(await body.reader.read()).toEqual({ done: true, value: undefined });
    expect(await body.reader.read()).toEqual({ done: true, value: undefined });
  });

  it("answers a waiting read with done when the body ends", async () => {
    const body = queue();
    const read = body.reader.read();
    body.end();
    expect(await read).toEqual({ done: true, value: undefined });
  });

  it("ignores pushes after the end", async () => {
    const body = queue();
    body.end();
    body.push(bytesOf("late"));
    expect(await body.reader.read()).toEqual({ done: true, value: undefined });
  });

  it("rejects a second read while one is already waiting", async () => {
    const body = queue();
    const first = body.reader.read();
    await expect(body.reader.read()).rejects.toThrow("already waiting");
    body.push(bytesOf("x"));
    expect(decoder.decode((await first).value)).toBe("x");
  });
});

describe("body queue failures", () => {
  it("rejects a waiting read with the error the body failed with", async () => {
    const body = queue();
    const read = body.reader.read();
    const error = new Error("connection reset");
    body.fail(error);
    await expect(read).rejects.toBe(error);
  });

  it("gives the bytes that came before the failure, then rejects every read", async () => {
    const body = queue();
    const error = new Error("cut");
    body.push(bytesOf("partial"));
    body.fail(error);
    expect(decoder.decode((await body.reader.read()).value)).toBe("partial");
    await expect(body.reader.read()).rejects.toBe(error);
    await expect(body.reader.read()).rejects.toBe(error);
  });

  it("ignores a failure after the end, and an end after a failure", async () => {
    const ended = queue();
    ended.end();
    ended.fail(new Error("late"));
    expect(await ended.reader.read()).toEqual({ done: true, value: undefined });
    const failed = queue();
    const error = new Error("first");
    failed.fail(error);
    failed.end();
    failed.fail(new Error("second"));
    await expect(failed.reader.read()).rejects.toBe(error);
  });

  it("rejects bytes() when the body fails on the way", async () => {
    const body = queue();
    const whole = body.reader.bytes();
    body.push(bytesOf("some"));
    const error = new Error("cut");
    body.fail(error);
    await expect(whole).rejects.toBe(error);
  });
});

describe("body queue cancel", () => {
  it("tells the flow once when cancelled before the end, and reads are done afterwards", async () => {
    const body = queue();
    body.push(bytesOf("unread"));
    await body.reader.cancel();
    await body.reader.cancel();
    expect(body.calls.cancel).toBe(1);
    expect(await body.reader.read()).toEqual({ done: true, value: undefined });
    body.push(bytesOf("more"));
    body.end();
    expect(await body.reader.read()).toEqual({ done: true, value: undefined });
    expect(body.calls.cancel).toBe(1);
  });

  it("answers a read that was waiting when the reader cancelled with done", async () => {
    const body = queue();
    const read = body.reader.read();
    await body.reader.cancel();
    expect(Bun.peek.status(read)).toBe("fulfilled");
    expect(await read).toEqual({ done: true, value: undefined });
    expect(body.calls.cancel).toBe(1);
  });

  it("does not tell the flow when cancelled after the end or a failure", async () => {
    const ended = queue();
    ended.end();
    await ended.reader.cancel();
    expect(ended.calls.cancel).toBe(0);
    const failed = queue();
    failed.fail(new Error("cut"));
    await failed.reader.cancel();
    expect(failed.calls.cancel).toBe(0);
  });
});

describe("body queue flow control", () => {
  it("pauses the flow once more than 1 MiB is unread, and resumes it when that is read", async () => {
    const body = queue();
    body.push(new Uint8Array(MIB));
    expect(body.calls.pause).toBe(0);
    body.push(new Uint8Array(1));
    expect(body.calls).toEqual({ pause: 1, resume: 0, cancel: 0 });
    body.push(new Uint8Array(100));
    expect(body.calls.pause).toBe(1);
    const read = await body.reader.read();
    expect(read.value?.byteLength).toBe(MIB + 101);
    expect(body.calls).toEqual({ pause: 1, resume: 1, cancel: 0 });
    // Under the limit again: a small push does not pause, a read has nothing to resume.
    body.push(new Uint8Array(10));
    await body.reader.read();
    expect(body.calls).toEqual({ pause: 1, resume: 1, cancel: 0 });
  });

  it("pauses again when the reader falls behind a second time", async () => {
    const body = queue();
    body.push(new Uint8Array(2 * MIB));
    await body.reader.read();
    body.push(new Uint8Array(2 * MIB));
    expect(body.calls.pause).toBe(2);
    await body.reader.read();
    expect(body.calls.resume).toBe(2);
  });

  it("does not pause for a large push that a waiting read takes at once", async () => {
    const body = queue();
    const read = body.reader.read();
    body.push(new Uint8Array(2 * MIB));
    expect((await read).value?.byteLength).toBe(2 * MIB);
    expect(body.calls.pause).toBe(0);
  });
});

describe("body queue bytes()", () => {
  it("returns the whole body when it has already ended in one chunk", async () => {
    const body = queue();
    body.push(bytesOf("{\"ok\":true}"));
    body.end();
    expect(decoder.decode(await body.reader.bytes())).toBe("{\"ok\":true}");
  });

  it("returns the whole body when it has already ended in several chunks", async () => {
    const body = queue();
    body.push(bytesOf("ab"));
    body.push(bytesOf("cd"));
    body.push(bytesOf("e"));
    body.end();
    expect(decoder.decode(await body.reader.bytes())).toBe("abcde");
  });

  it("returns the whole body when it arrives after the call", async () => {
    const body = queue();
    body.push(bytesOf("first "));
    const whole = body.reader.bytes();
    await Promise.resolve();
    body.push(bytesOf("second "));
    await Promise.resolve();
    body.push(bytesOf("third"));
    expect(Bun.peek.status(whole)).toBe("pending");
    body.end();
    expect(decoder.decode(await whole)).toBe("first second third");
  });

  it("returns no bytes for an empty body, ended before or after the call", async () => {
    const before = queue();
    before.end();
    expect((await before.reader.bytes()).byteLength).toBe(0);
    const after = queue();
    const whole = after.reader.bytes();
    after.end();
    expect((await whole).byteLength).toBe(0);
  });
});

describe("body queue, taking an ended body at once", () => {
  it("gives nothing while more may come, then the rest (all chunks joined) once the body ended", () => {
    const body = queue();
    body.push(bytesOf("ab"));
    expect(body.reader.takeRestIfEnded()).toBeNull();
    body.push(bytesOf("cd"));
    body.end();
    expect(decoder.decode(body.reader.takeRestIfEnded()!)).toBe("abcd");
    expect(body.reader.takeRestIfEnded()!.byteLength).toBe(0);
  });

  it("gives nothing for a body that failed or was cancelled", async () => {
    const failed = queue();
    failed.push(bytesOf("ab"));
    failed.fail(new Error("cut"));
    expect(failed.reader.takeRestIfEnded()).toBeNull();
    const cancelled = queue();
    await cancelled.reader.cancel();
    cancelled.end();
    expect(cancelled.reader.takeRestIfEnded()).toBeNull();
  });
});
