import { describe, expect, it } from "bun:test";
import { createResponseParser, HeadHeaders, ResponseParseError, type ResponseHead } from "../../server/upstream/response-parser.ts";
import { asBuffer } from "../../server/upstream/as-buffer.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytesOf = (text: string) => encoder.encode(text);

const AZURE_JSON = JSON.stringify({ id: "chatcmpl-1", choices: [{ message: { role: "assistant", content: "Héllo" } }], usage: { total_tokens: 9 } });
const FIXED_RESPONSE =
  "HTTP/1.1 200 OK\r\n" +
  "Content-Type: application/json\r\n" +
  `Content-Length: ${Buffer.byteLength(AZURE_JSON)}\r\n` +
  "apim-request-id: 6f1c\r\n" +
  "x-ratelimit-remaining-tokens: 79000\r\n" +
  "\r\n" +
  AZURE_JSON;
const CHUNKED_RESPONSE =
  "HTTP/1.1 200 OK\r\n" +
  "Content-Type: text/event-stream\r\n" +
  "Transfer-Encoding: chunked\r\n" +
  "\r\n" +
  "5;ext=1\r\nHello\r\n" +
  "7\r\n, world\r\n" +
  "A\r\n0123456789\r\n" +
  "1\r\n!\r\n" +
  "0\r\n" +
  "x-trailer: yes\r\n" +
  "\r\n";
const CHUNKED_BODY = "Hello, world0123456789!";

/** Feeds `pieces` to a fresh parser and records its events; adjacent body events are joined into one. */
function parse(pieces: Uint8Array[], closeAfter = false) {
  const events: string[] = [];
  let head: ResponseHead | null = null;
  // Streaming, so a UTF-8 character split between two body events decodes as one.
  const bodyDecoder = new TextDecoder();
  const parser = createResponseParser({
    head(received) {
      head = received;
      events.push(`head ${received.status}`);
    },
    body(bytes) {
      expect(bytes.byteLength).toBeGreaterThan(0);
      const text = bodyDecoder.decode(bytes, { stream: true });
      const last = events.at(-1);
      if (last?.startsWith("body ")) events[events.length - 1] = last + text;
      else events.push(`body ${text}`);
    },
    end() {
      events.push("end");
    },
  });
  for (const piece of pieces) parser.push(piece);
  if (closeAfter) parser.closed();
  return { parser, events, head: head as ResponseHead | null };
}

const whole = (text: string) => [bytesOf(text)];
const oneByteAtATime = (text: string) => Array.from(bytesOf(text), (byte) => Uint8Array.of(byte));
const splitAt = (text: string, at: number) => {
  const bytes = bytesOf(text);
  return [bytes.subarray(0, at), bytes.subarray(at)];
};

describe("response parser: content-length bodies", () => {
  it("delivers a content-length body whole, then ends, with the head's status and headers", () => {
    const { parser, events, head } = parse(whole(FIXED_RESPONSE));
    expect(events).toEqual(["head 200", `body ${AZURE_JSON}`, "end"]);
    expect(head?.keepAlive).toBe(true);
    expect(head?.headers.get("apim-request-id")).toBe("6f1c");
    expect(head?.headers.get("x-ratelimit-remaining-tokens")).toBe("79000");
    expect(parser.complete).toBe(true);
    expect(parser.bytesSeen).toBe(bytesOf(FIXED_RESPONSE).byteLength);
  });

  it("gives the same events when the response arrives one byte at a time", () => {
    const { parser, events } = parse(oneByteAtATime(FIXED_RESPONSE));
    expect(events).toEqual(["head 200", `body ${AZURE_JSON}`, "end"]);
    expect(parser.complete).toBe(true);
    expect(parser.bytesSeen).toBe(bytesOf(FIXED_RESPONSE).byteLength);
  });

  it("gives the same events whichever byte the response is split at", () => {
    const length = bytesOf(FIXED_RESPONSE).byteLength;
    for (let at = 0; at <= length; at++) {
      const { parser, events } = parse(splitAt(FIXED_RESPONSE, at));
      expect({ at, events }).toEqual({ at, events: ["head 200", `body ${AZURE_JSON}`, "end"] });
      expect(parser.complete).toBe(true);
    }
  });

  it("is not complete, and counts what it saw, while the body is still short", () => {
    const bytes = bytesOf(FIXED_RESPONSE);
    const { parser, events } = parse([bytes.subarray(0, bytes.byteLength - 3)]);
    expect(events).toEqual(["head 200", `body ${AZURE_JSON.slice(0, -3)}`]);
    expect(parser.complete).toBe(false);
    expect(parser.bytesSeen).toBe(bytes.byteLength - 3);
  });

  it("ends at once on content-length 0, with no body event", () => {
    const { parser, events, head } = parse(whole("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    expect(events).toEqual(["head 200", "end"]);
    expect(head?.keepAlive).toBe(true);
    expect(parser.complete).toBe(true);
  });

  it("accepts a content-length repeated with the same value", () => {
    const { events, parser } = parse(whole("HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc"));
    expect(events).toEqual(["head 200", "body abc", "end"]);
    expect(parser.complete).toBe(true);
  });

  it("rejects two content-lengths that disagree", () => {
    expect(() => parse(whole("HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 4\r\n\r\nabcd"))).toThrow(ResponseParseError);
  });

  it("rejects a content-length that is not a plain decimal number", () => {
    for (const value of ["abc", "-1", "1.5", "", "0x10", "3, 3", "1234567890123456"]) {
      expect(() => parse(whole(`HTTP/1.1 200 OK\r\nContent-Length: ${value}\r\n\r\n`))).toThrow(ResponseParseError);
    }
  });

  it("reads a content-length with spaces around its value", () => {
    const { events } = parse(whole("HTTP/1.1 200 OK\r\nContent-Length:   2  \r\n\r\nok"));
    expect(events).toEqual(["head 200", "body ok", "end"]);
  });
});

describe("response parser: chunked bodies", () => {
  it("delivers every chunk in order between head and end, skipping extensions and trailers", () => {
    const { parser, events, head } = parse(whole(CHUNKED_RESPONSE));
    expect(events).toEqual(["head 200", `body ${CHUNKED_BODY}`, "end"]);
    expect(head?.keepAlive).toBe(true);
    expect(parser.complete).toBe(true);
    expect(parser.bytesSeen).toBe(bytesOf(CHUNKED_RESPONSE).byteLength);
  });

  it("emits one body event per chunk when the response arrives whole", () => {
    const chunks: string[] = [];
    const parser = createResponseParser({ head() {}, body: (bytes) => void chunks.push(decoder.decode(bytes)), end() {} });
    parser.push(bytesOf(CHUNKED_RESPONSE));
    expect(chunks).toEqual(["Hello", ", world", "0123456789", "!"]);
  });

  it("gives the same events when the response arrives one byte at a time", () => {
    const { parser, events } = parse(oneByteAtATime(CHUNKED_RESPONSE));
    expect(events).toEqual(["head 200", `body ${CHUNKED_BODY}`, "end"]);
    expect(parser.complete).toBe(true);
  });

  it("gives the same events whichever byte the response is split at", () => {
    const length = bytesOf(CHUNKED_RESPONSE).byteLength;
    for (let at = 0; at <= length; at++) {
      const { parser, events } = parse(splitAt(CHUNKED_RESPONSE, at));
      expect({ at, events }).toEqual({ at, events: ["head 200", `body ${CHUNKED_BODY}`, "end"] });
      expect(parser.complete).toBe(true);
    }
  });

  it("gives the same events when split at every pair of bytes into three pieces", () => {
    const bytes = bytesOf(CHUNKED_RESPONSE);
    const bodyStart = CHUNKED_RESPONSE.indexOf("\r\n\r\n") + 4;
    for (let first = bodyStart - 2; first <= bytes.byteLength; first++) {
      for (let second = first; second <= bytes.byteLength; second++) {
        const { events } = parse([bytes.subarray(0, first), bytes.subarray(first, second), bytes.subarray(second)]);
        expect({ first, second, events }).toEqual({ first, second, events: ["head 200", `body ${CHUNKED_BODY}`, "end"] });
      }
    }
  });

  it("is not complete before the last chunk's empty line", () => {
    const withoutLastLine = CHUNKED_RESPONSE.slice(0, -2);
    const { parser, events } = parse(whole(withoutLastLine));
    expect(events).toEqual(["head 200", `body ${CHUNKED_BODY}`]);
    expect(parser.complete).toBe(false);
    parser.push(bytesOf("\r\n"));
    expect(parser.complete).toBe(true);
  });

  it("ends a chunked body with no chunks and no trailers", () => {
    const { events, parser } = parse(whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
    expect(events).toEqual(["head 200", "end"]);
    expect(parser.complete).toBe(true);
  });

  it("lets chunked win over a content-length next to it, and does not reuse the connection", () => {
    const response = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    const { events, head, parser } = parse(whole(response));
    expect(events).toEqual(["head 200", "body abc", "end"]);
    expect(parser.complete).toBe(true);
    expect(head?.keepAlive).toBe(false);
  });

  it("finds chunked as the last of several transfer codings", () => {
    const { events } = parse(whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"));
    expect(events).toEqual(["head 200", "body hi", "end"]);
  });

  it("reads a transfer coding that does not end in chunked until the close", () => {
    const { events, head, parser } = parse(whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nraw"));
    expect(events).toEqual(["head 200", "body raw"]);
    expect(head?.keepAlive).toBe(false);
    parser.closed();
    expect(events.at(-1)).toBe("end");
  });

  it("rejects a chunk size that is not hexadecimal", () => {
    for (const line of ["zz", "-1", "", "0x5", "1234567890abc"]) {
      expect(() => parse(whole(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${line}\r\nHello\r\n0\r\n\r\n`))).toThrow(ResponseParseError);
    }
  });

  it("rejects a chunk size line that never ends", () => {
    const { parser } = parse(whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
    expect(() => parser.push(bytesOf(`5;${"x".repeat(2000)}`))).toThrow(ResponseParseError);
  });

  it("rejects a chunk not followed by CRLF, whole or with the CRLF split off", () => {
    expect(() => parse(whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHelloXY0\r\n\r\n"))).toThrow(ResponseParseError);
    const { parser } = parse(whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r"));
    expect(() => parser.push(bytesOf("X0\r\n\r\n"))).toThrow(ResponseParseError);
  });
});

describe("response parser: bodies ended by the close", () => {
  it("reads a body with no length until the connection closes, then ends", () => {
    const { parser, events, head } = parse(whole("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc"));
    parser.push(bytesOf("def"));
    expect(events).toEqual(["head 200", "body abcdef"]);
    expect(parser.complete).toBe(false);
    expect(head?.keepAlive).toBe(false);
    parser.closed();
    expect(events).toEqual(["head 200", "body abcdef", "end"]);
    expect(parser.complete).toBe(true);
    expect(() => parser.closed()).not.toThrow();
    expect(events.filter((event) => event === "end")).toHaveLength(1);
  });

  it("ends a body with no length and no bytes on the close", () => {
    const { events, parser } = parse(whole("HTTP/1.1 200 OK\r\n\r\n"), true);
    expect(events).toEqual(["head 200", "end"]);
    expect(parser.complete).toBe(true);
  });
});

describe("response parser: the connection closing early", () => {
  it("throws when the connection closes before any byte, having seen none", () => {
    const { parser } = parse([]);
    expect(parser.bytesSeen).toBe(0);
    expect(() => parser.closed()).toThrow(ResponseParseError);
    expect(parser.complete).toBe(false);
  });

  it("throws when the connection closes within the head", () => {
    const { parser, events } = parse(whole("HTTP/1.1 200 OK\r\nContent-Le"));
    expect(events).toEqual([]);
    expect(parser.bytesSeen).toBe(27);
    expect(() => parser.closed()).toThrow(ResponseParseError);
  });

  it("throws when the connection closes within a content-length body", () => {
    const { parser } = parse(whole("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
    expect(() => parser.closed()).toThrow(ResponseParseError);
    expect(parser.complete).toBe(false);
  });

  it("throws when the connection closes within a chunked body, even between chunks", () => {
    const { parser } = parse(whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"));
    expect(() => parser.closed()).toThrow(ResponseParseError);
    const { parser: inTrailers } = parse(whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"));
    expect(() => inTrailers.closed()).toThrow(ResponseParseError);
  });

  it("does not throw when the connection closes after a complete response", () => {
    const { parser } = parse(whole(FIXED_RESPONSE));
    expect(() => parser.closed()).not.toThrow();
  });
});

describe("response parser: heads", () => {
  it("skips 100 Continue and other interim answers before the real one", () => {
    const response = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + FIXED_RESPONSE;
    for (const pieces of [whole(response), oneByteAtATime(response)]) {
      const { events, head, parser } = parse(pieces);
      expect(events).toEqual(["head 200", `body ${AZURE_JSON}`, "end"]);
      expect(head?.headers.get("link")).toBeNull();
      expect(parser.complete).toBe(true);
    }
  });

  it("rejects a 101 protocol switch", () => {
    expect(() => parse(whole("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"))).toThrow(ResponseParseError);
  });

  it("gives 204 and 304 no body, whatever their headers say", () => {
    for (const status of [204, 304]) {
      const { events, parser, head } = parse(whole(`HTTP/1.1 ${status} Nothing\r\nContent-Length: 5\r\n\r\n`));
      expect(events).toEqual([`head ${status}`, "end"]);
      expect(parser.complete).toBe(true);
      expect(head?.keepAlive).toBe(true);
    }
  });

  it("reads a status line with no reason phrase", () => {
    const { events } = parse(whole("HTTP/1.1 429\r\nContent-Length: 2\r\n\r\n{}"));
    expect(events).toEqual(["head 429", "body {}", "end"]);
  });

  it("rejects an invalid status line", () => {
    for (const line of ["HTP/1.1 200 OK", "HTTP/2 200 OK", "HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 abc OK", "HTTP/1.2 200 OK", "garbage"]) {
      expect(() => parse(whole(`${line}\r\nContent-Length: 0\r\n\r\n`))).toThrow(ResponseParseError);
    }
  });

  it("rejects a head over 64 KiB, whether it arrives whole or in pieces", () => {
    const response = `HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(70 * 1024)}\r\nContent-Length: 0\r\n\r\n`;
    expect(() => parse(whole(response))).toThrow(ResponseParseError);
    const bytes = bytesOf(response);
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < bytes.byteLength; at += 4096) pieces.push(bytes.subarray(at, at + 4096));
    expect(() => parse(pieces)).toThrow(ResponseParseError);
  });

  it("accepts a large head under 64 KiB, whether it arrives whole or in pieces", () => {
    const value = "a".repeat(60 * 1024);
    const response = `HTTP/1.1 200 OK\r\nx-big: ${value}\r\nContent-Length: 0\r\n\r\n`;
    const bytes = bytesOf(response);
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < bytes.byteLength; at += 4096) pieces.push(bytes.subarray(at, at + 4096));
    for (const input of [whole(response), pieces]) {
      const { events, head } = parse(input);
      expect(events).toEqual(["head 200", "end"]);
      expect(head?.headers.get("x-big")).toBe(value);
    }
  });

  it("puts the 64 KiB limit on the same byte whether the head arrives whole or split anywhere", () => {
    const headOf = (size: number) => {
      const start = "HTTP/1.1 204 No Content\r\nx-pad: ";
      return start + "p".repeat(size - start.length - 4) + "\r\n\r\n";
    };
    const atLimit = headOf(64 * 1024);
    const overLimit = headOf(64 * 1024 + 1);
    expect(bytesOf(atLimit).byteLength).toBe(64 * 1024);
    for (const at of [0, 1, 1000, 64 * 1024 - 4, 64 * 1024 - 3, 64 * 1024 - 2, 64 * 1024 - 1, 64 * 1024]) {
      expect(parse(splitAt(atLimit, at)).events).toEqual(["head 204", "end"]);
      expect(() => parse(splitAt(overLimit, at))).toThrow(ResponseParseError);
    }
    expect(() => parse(splitAt(overLimit, 64 * 1024 + 1))).toThrow(ResponseParseError);
  });

  it("does not reuse the connection when the upstream says connection: close", () => {
    const { head } = parse(whole("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n"));
    expect(head?.keepAlive).toBe(false);
  });

  it("does not reuse an HTTP/1.0 connection unless it says keep-alive", () => {
    expect(parse(whole("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi")).head?.keepAlive).toBe(false);
    expect(parse(whole("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi")).head?.keepAlive).toBe(true);
    expect(parse(whole("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi")).head?.keepAlive).toBe(true);
  });

  it("throws on bytes after a complete response, in the same push or a later one", () => {
    const events: string[] = [];
    const parser = createResponseParser({ head: () => void events.push("head"), body: () => void events.push("body"), end: () => void events.push("end") });
    expect(() => parser.push(bytesOf("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiXX"))).toThrow(ResponseParseError);
    expect(events).toEqual(["head", "body", "end"]);
    const { parser: done } = parse(whole(FIXED_RESPONSE));
    expect(() => done.push(bytesOf("H"))).toThrow(ResponseParseError);
    const { parser: noContent } = parse(whole("HTTP/1.1 204 No Content\r\n\r\n"));
    expect(() => noContent.push(bytesOf("x"))).toThrow(ResponseParseError);
  });

  it("names its error ResponseParseError", () => {
    let caught: unknown = null;
    try {
      parse(whole("nonsense\r\n\r\n"));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ResponseParseError);
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).name).toBe("ResponseParseError");
  });
});

describe("HeadHeaders", () => {
  const headers = new HeadHeaders(
    "HTTP/1.1 200 OK\r\n" +
      "Content-Type: Application/JSON; Charset=UTF-8\r\n" +
      "X-Content-Length: 99\r\n" +
      "Set-Cookie: a=1\r\n" +
      "set-cookie: b=2\r\n" +
      "x-empty:\r\n" +
      "X-Last:   Tail Value  ",
  );

  it("finds a header whatever the case of its name, keeping its value's case", () => {
    expect(headers.get("content-type")).toBe("Application/JSON; Charset=UTF-8");
    expect(headers.get("CONTENT-TYPE")).toBe("Application/JSON; Charset=UTF-8");
    expect(headers.get("Content-Type")).toBe("Application/JSON; Charset=UTF-8");
  });

  it("returns null for a header that is absent", () => {
    expect(headers.get("retry-after")).toBeNull();
    expect(headers.get("HTTP/1.1 200 OK")).toBeNull();
  });

  it("does not match a header whose name merely ends or starts with the one asked for", () => {
    expect(headers.get("content-length")).toBeNull();
    expect(headers.get("x-content-length")).toBe("99");
    expect(headers.get("content")).toBeNull();
    expect(headers.get("cookie")).toBeNull();
  });

  it("returns the first value of a repeated header, and counts it", () => {
    expect(headers.get("set-cookie")).toBe("a=1");
    expect(headers.count("Set-Cookie")).toBe(2);
    expect(headers.count("content-type")).toBe(1);
    expect(headers.count("content-length")).toBe(0);
  });

  it("trims the value, including on the last line and an empty value", () => {
    expect(headers.get("x-last")).toBe("Tail Value");
    expect(headers.get("x-empty")).toBe("");
  });
});

describe("asBuffer", () => {
  it("hands a Buffer back as it is, and views any other Uint8Array's own bytes (offset included) without copying", () => {
    const socketChunk = Buffer.from("HTTP/1.1 200 OK");
    expect(asBuffer(socketChunk)).toBe(socketChunk);

    const backing = encoder.encode("xxHello");
    const view = backing.subarray(2);
    const wrapped = asBuffer(view);
    expect(Buffer.isBuffer(wrapped)).toBe(true);
    expect(wrapped.toString()).toBe("Hello");
    backing[2] = "J".charCodeAt(0);
    expect(wrapped.toString()).toBe("Jello");
  });

  it("parses a response read as a Buffer (what the socket gives) the same as one read as a Uint8Array", () => {
    const read = (input: Uint8Array) => {
      let status = 0;
      const parts: Uint8Array[] = [];
      createResponseParser({ head: (head) => (status = head.status), body: (bytes) => parts.push(bytes), end: () => {} }).push(input);
      return { status, body: decoder.decode(Buffer.concat(parts)) };
    };
    expect(read(Buffer.from(FIXED_RESPONSE))).toEqual(read(bytesOf(FIXED_RESPONSE)));
    expect(read(Buffer.from(FIXED_RESPONSE)).body).toBe(AZURE_JSON);
  });
});
