// Streams an upstream SSE answer to the client: hold the prelude until content (so a failure before it can fail
// over invisibly), then relay frame by frame, settling exactly once at the end, a cut, a stall or a client abort.
import { ProxyError } from "../errors.ts";
import { toSseFrame } from "./sse.ts";
import type { StreamTap } from "./stream-tap.ts";
import type { Usage } from "./usage.ts";
import type { BodyReader } from "../upstream/body-queue.ts";

/** The part of an upstream body the relay uses. */
export type ByteReader = Pick<BodyReader, "read" | "cancel">;

export type FirstContent = { ok: true; held: Uint8Array[] } | { ok: false; reason: "ended" | "failed" };

/**
 * Reads until the first content frame (or [DONE]); nothing is sent to the client meanwhile. The wait has no timer of
 * its own: the caller's attempt watch aborts the upstream at the first-token deadline, which fails the read.
 */
export async function awaitFirstContent(reader: ByteReader, tap: StreamTap): Promise<FirstContent> {
  const held: Uint8Array[] = [];
  try {
    while (!tap.state.sawContent) {
      const { value, done } = await reader.read();
      if (done) return { ok: false, reason: "ended" };
      const out = tap.process(value);
      if (out) held.push(out);
    }
    return { ok: true, held };
  } catch {
    return { ok: false, reason: "failed" };
  }
}

/** awaitFirstContent for an upstream body that had ended by the time its head was read: all of it is here. */
export function firstContentIn(body: Uint8Array, tap: StreamTap): FirstContent {
  const out = tap.process(body);
  return tap.state.sawContent ? { ok: true, held: out ? [out] : [] } : { ok: false, reason: "ended" };
}

export type StreamEnd = {
  /** client_stalled: the client stopped reading for the idle timeout, and the proxy closed its connection. */
  outcome: "completed" | "client_aborted" | "client_stalled" | "upstream_failed" | "idle_timeout" | "shutdown";
  usage: Usage | null;
  usageSource: "upstream" | "counted" | "estimated" | null;
};

export type StreamRelayOptions = {
  reader: ByteReader;
  tap: StreamTap;
  held: Uint8Array[];
  /** The client asked for usage the upstream cannot send: append a frame of this `object` type with the proxy's count. */
  appendUsageFrame: "chat.completion.chunk" | "text_completion" | null;
  /** Counts usage when the upstream reported none (from generated text, or from frames streamed before an abort). */
  countUsage: (completionText: string, contentFrames: number) => Promise<Usage | null>;
  /** Whether countUsage's figures are an exact count of the text or an estimate from frames. */
  countedExactly: boolean;
  idleTimeoutMs: number;
  /** Aborts when a graceful shutdown's drain deadline passes: the stream then ends with an error frame. */
  stopSignal?: AbortSignal;
  abortUpstream: () => void;
  /** Closes the client's connection soon (it stopped reading); without it a stalled client is only noticed by the idle timer. */
  closeClient?: () => void;
  onEnd: (end: StreamEnd) => void;
};

const encoder = new TextEncoder();

/**
 * How many microtask turns a read may take and still count as ready. Bun settles a read of bytes (or of the end)
 * its fetch already holds within a turn or two; a read that waits for the network needs an event-loop turn.
 */
const READY_WITHIN_TURNS = 4;

type PendingRead = ReturnType<ByteReader["read"]>;

/**
 * The client's body for an upstream stream whose first content has arrived: the bytes at once when the upstream
 * had already finished by then (a short answer, or one that arrived in a burst), else a stream relayed frame by
 * frame. Nothing waits for the network before the first content goes out, so a paced stream loses no time.
 */
export async function relayStream(options: StreamRelayOptions): Promise<Uint8Array | ReadableStream<Uint8Array>> {
  const { reader, tap } = options;
  const held = [...options.held];
  let ended = false;

  const end = async (outcome: StreamEnd["outcome"]): Promise<Usage | null> => {
    if (ended) return null;
    ended = true;
    let usage = tap.state.usage;
    let usageSource: StreamEnd["usageSource"] = usage ? "upstream" : null;
    if (!usage) {
      usage = await options.countUsage(tap.state.completionText, tap.state.contentFrames).catch(() => null);
      usageSource = usage ? (options.countedExactly && outcome === "completed" ? "counted" : "estimated") : null;
    }
    options.onEnd({ outcome, usage, usageSource });
    return usage;
  };

  /** What follows the upstream's last byte: the counted usage frame and [DONE], or a trailing unterminated frame. */
  const completedTail = async (): Promise<Uint8Array[]> => {
    if (options.appendUsageFrame) {
      const usage = await end("completed");
      const tail = usage ? [encoder.encode(toSseFrame({ object: options.appendUsageFrame, choices: [], usage }))] : [];
      tail.push(encoder.encode("data: [DONE]\n\n"));
      return tail;
    }
    const rest = tap.pendingText;
    await end("completed");
    return trailingFrame(rest);
  };

  let pendingRead: PendingRead | null = null;
  for (;;) {
    const read = reader.read();
    for (let turn = 0; turn < READY_WITHIN_TURNS && Bun.peek.status(read) === "pending"; turn++) await null;
    // A read still waiting, or a failed one (the relay below reports a cut in-band), goes on as a stream.
    if (Bun.peek.status(read) !== "fulfilled") {
      pendingRead = read;
      break;
    }
    const { value, done } = await read;
    if (done) return joined([...held, ...(await completedTail())]);
    const out = tap.process(value);
    if (out) held.push(out);
  }
  return relayFrames(options, held, pendingRead, end, completedTail);
}

/**
 * relayStream for an upstream body that has ended and passed through the tap already, settled without a promise:
 * the common case of a short answer, or one that arrived in a burst, from an upstream that reported usage. Null when
 * the end needs more (usage to count or append): relayStream then finishes it.
 */
export function relayEndedNow(options: Pick<StreamRelayOptions, "tap" | "held" | "appendUsageFrame" | "onEnd">): Uint8Array | null {
  const { tap } = options;
  const usage = tap.state.usage;
  if (options.appendUsageFrame || !usage) return null;
  const tail = trailingFrame(tap.pendingText);
  options.onEnd({ outcome: "completed", usage, usageSource: "upstream" });
  return joined([...options.held, ...tail]);
}

/** A last frame the upstream did not terminate is passed on as it came; whitespace alone is not. */
function trailingFrame(rest: string): Uint8Array[] {
  return rest.trim() !== "" ? [encoder.encode(rest)] : [];
}

function joined(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

function relayFrames(
  options: StreamRelayOptions,
  held: Uint8Array[],
  firstRead: PendingRead | null,
  endStream: (outcome: StreamEnd["outcome"]) => Promise<Usage | null>,
  completedTail: () => Promise<Uint8Array[]>,
): ReadableStream<Uint8Array> {
  const { reader, tap } = options;
  let pendingRead = firstRead;
  let idleExpired = false;
  let stopped = false;
  let pulling = false;
  let stalled = false;

  const idleTimer = setTimeout(() => {
    // No pull in progress means the client has not asked for more since the last upstream frame: it stopped
    // reading. Have its connection closed rather than let it hold the stream (and the upstream call) forever;
    // the close then cancels this stream.
    if (!pulling && options.closeClient) {
      stalled = true;
      options.abortUpstream();
      options.closeClient();
      return;
    }
    idleExpired = true;
    options.abortUpstream();
  }, options.idleTimeoutMs);
  const stopForShutdown = () => {
    stopped = true;
    options.abortUpstream();
  };
  if (options.stopSignal?.aborted) stopForShutdown();
  else options.stopSignal?.addEventListener("abort", stopForShutdown, { once: true });
  const release = () => {
    clearTimeout(idleTimer);
    options.stopSignal?.removeEventListener("abort", stopForShutdown);
  };
  const end = (outcome: StreamEnd["outcome"]): Promise<Usage | null> => {
    release();
    return endStream(outcome);
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        pulling = true;
        try {
          await relayNext(controller);
        } finally {
          pulling = false;
        }
      },
      async cancel() {
        options.abortUpstream();
        await reader.cancel().catch(() => {});
        await end(stalled ? "client_stalled" : "client_aborted");
      },
    },
    { highWaterMark: 0 },
  );

  async function relayNext(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const first = held.shift();
    if (first) {
      controller.enqueue(first);
      return;
    }
    try {
      for (;;) {
        const read = pendingRead ?? reader.read();
        pendingRead = null;
        const { value, done } = await read;
        if (done) {
          release();
          for (const chunk of await completedTail()) controller.enqueue(chunk);
          controller.close();
          return;
        }
        idleTimer.refresh();
        const out = tap.process(value);
        if (out) {
          controller.enqueue(out);
          return;
        }
      }
    } catch {
      // Content has already reached the client, so there is no failing over now. Say so in-band: a silent
      // close would let a client mistake a truncated answer for a complete one.
      const error = stopped
        ? new ProxyError("server_shutting_down", "The proxy is shutting down and stopped this stream before it finished.")
        : stalled
          ? new ProxyError("request_timeout", "The client stopped reading this stream, so it was stopped.")
          : idleExpired
            ? new ProxyError("upstream_timeout", "The upstream stream went silent and was stopped.")
            : new ProxyError("upstream_bad_response", "The upstream stream ended unexpectedly.");
      controller.enqueue(encoder.encode(toSseFrame(error.toJSON())));
      await end(stopped ? "shutdown" : stalled ? "client_stalled" : idleExpired ? "idle_timeout" : "upstream_failed");
      controller.close();
    }
  }
}
