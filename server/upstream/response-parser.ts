// Incremental HTTP/1.1 response parsing: the head, then the body by content-length, chunked coding, or until close.
// Pure: bytes in, events out; the socket client owns the connection.
import { asBuffer } from "./as-buffer.ts";

export type ResponseHead = {
  status: number;
  /** Looked up in the head's text on demand: a call reads a handful of the headers, so none is parsed ahead. */
  headers: HeadHeaders;
  /** Whether the connection may carry another request once this response is read. */
  keepAlive: boolean;
};

export type ParserEvents = {
  head(head: ResponseHead): void;
  body(bytes: Uint8Array): void;
  /** The message is complete: nothing of it is left on the connection. */
  end(): void;
};

/** The upstream broke HTTP/1.1 framing: the connection cannot be trusted for anything more. */
export class ResponseParseError extends Error {
  override name = "ResponseParseError";
}

/** More than this before the blank line is not a response head Azure would send. */
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE_BYTES = 1024;
const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");
const EMPTY = Buffer.alloc(0);
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: |$)/;

const enum State {
  Head,
  Fixed,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

export type ResponseParser = {
  /** Feeds bytes read from the connection; throws ResponseParseError on a malformed response. */
  push(bytes: Uint8Array): void;
  /** The connection closed: completes a body delimited by the close, else throws (the response was cut). */
  closed(): void;
  readonly complete: boolean;
  /** Bytes of the response seen so far: zero means the connection closed before the upstream answered at all. */
  readonly bytesSeen: number;
};

export function createResponseParser(events: ParserEvents): ResponseParser {
  let state = State.Head;
  let pending: Buffer = EMPTY;
  let remaining = 0;
  let bytesSeen = 0;

  const finish = () => {
    state = State.Done;
    events.end();
  };

  /** Starts the body of a final (non-1xx) response; head.keepAlive is final before the head event. */
  const startBody = (head: ResponseHead, version: string) => {
    const { status, headers } = head;
    const transferEncoding = headers.get("transfer-encoding");
    const contentLength = headers.get("content-length");
    if (version === "0" && !/\bkeep-alive\b/i.test(headers.get("connection") ?? "")) head.keepAlive = false;
    let next: State;
    if (status === 204 || status === 304) next = State.Done;
    else if (transferEncoding !== null) {
      // A length next to a transfer coding is a smuggling vector: the coding wins, and the connection is not reused.
      if (contentLength !== null) head.keepAlive = false;
      next = /(?:^|,)\s*chunked\s*$/i.test(transferEncoding) ? State.ChunkSize : State.UntilClose;
      if (next === State.UntilClose) head.keepAlive = false;
    } else if (contentLength !== null) {
      if (!/^\d{1,15}$/.test(contentLength)) throw new ResponseParseError(`invalid content-length "${contentLength.slice(0, 40)}"`);
      remaining = Number(contentLength);
      next = remaining === 0 ? State.Done : State.Fixed;
    } else {
      head.keepAlive = false;
      next = State.UntilClose;
    }
    events.head(head);
    if (next === State.Done) finish();
    else state = next;
  };

  return {
    get complete() {
      return state === State.Done;
    },
    get bytesSeen() {
      return bytesSeen;
    },
    push(input) {
      bytesSeen += input.byteLength;
      let buf: Buffer = pending.length > 0 ? Buffer.concat([pending, input]) : asBuffer(input);
      pending = EMPTY;
      let at = 0;
      /** Keeps an unfinished line for the next push, within `limit`. */
      const waitForMore = (limit: number, what: string) => {
        if (buf.length - at > limit) throw new ResponseParseError(`${what} longer than ${limit} bytes`);
        pending = Buffer.from(buf.subarray(at));
        at = buf.length;
      };
      /** Hands on as much of the `remaining` body bytes (fixed length, or the current chunk) as this push holds. */
      const takeBody = () => {
        const take = Math.min(remaining, buf.length - at);
        events.body(buf.subarray(at, at + take));
        at += take;
        remaining -= take;
      };
      while (at < buf.length) {
        switch (state) {
          case State.Head: {
            const end = buf.indexOf(HEAD_END, at);
            if (end < 0) {
              waitForMore(MAX_HEAD_BYTES, "response head");
              break;
            }
            // The same limit whether the head came in pieces (checked above) or in one read.
            if (end + HEAD_END.length - at > MAX_HEAD_BYTES) throw new ResponseParseError(`response head longer than ${MAX_HEAD_BYTES} bytes`);
            const { head, version } = parseHead(buf.toString("latin1", at, end));
            at = end + HEAD_END.length;
            // 100 Continue and other interim answers precede the real one.
            if (head.status >= 100 && head.status < 200) {
              if (head.status === 101) throw new ResponseParseError("unexpected protocol switch");
              break;
            }
            startBody(head, version);
            break;
          }
          case State.Fixed:
            takeBody();
            if (remaining === 0) finish();
            break;
          case State.UntilClose:
            events.body(at === 0 ? buf : buf.subarray(at));
            at = buf.length;
            break;
          case State.ChunkSize: {
            const lineEnd = buf.indexOf(CRLF, at);
            if (lineEnd < 0) {
              waitForMore(MAX_CHUNK_LINE_BYTES, "chunk size line");
              break;
            }
            const line = buf.toString("latin1", at, lineEnd);
            const sizeText = (line.includes(";") ? line.slice(0, line.indexOf(";")) : line).trim();
            if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) throw new ResponseParseError(`invalid chunk size "${line.slice(0, 40)}"`);
            at = lineEnd + 2;
            remaining = parseInt(sizeText, 16);
            state = remaining === 0 ? State.Trailers : State.ChunkData;
            break;
          }
          case State.ChunkData:
            takeBody();
            if (remaining === 0) state = State.ChunkDataEnd;
            break;
          case State.ChunkDataEnd:
            if (buf.length - at < 2) {
              waitForMore(2, "chunk end");
              break;
            }
            if (buf[at] !== 0x0d || buf[at + 1] !== 0x0a) throw new ResponseParseError("chunk not followed by CRLF");
            at += 2;
            state = State.ChunkSize;
            break;
          case State.Trailers: {
            const lineEnd = buf.indexOf(CRLF, at);
            if (lineEnd < 0) {
              waitForMore(MAX_HEAD_BYTES, "trailer");
              break;
            }
            // Trailer fields carry nothing the proxy uses; the empty line ends the message.
            const empty = lineEnd === at;
            at = lineEnd + 2;
            if (empty) finish();
            break;
          }
          case State.Done:
            // Nothing was asked for: bytes after a complete response mean the framing is off.
            throw new ResponseParseError("bytes after the end of the response");
        }
      }
    },
    closed() {
      if (state === State.UntilClose) return finish();
      if (state !== State.Done) throw new ResponseParseError(state === State.Head ? "connection closed before a response" : "connection closed mid-body");
    },
  };
}

/**
 * "\r\n<name>:" per header name: a call looks up about a dozen, always the same names from the code, and building
 * each needle anew was half of a lookup's cost. A pure memo, bounded in case a caller ever passes names from input.
 */
const needles = new Map<string, string>();
const MAX_NEEDLES = 256;

function needleFor(name: string): string {
  let needle = needles.get(name);
  if (needle === undefined) {
    needle = `\r\n${name.toLowerCase()}:`;
    if (needles.size >= MAX_NEEDLES) needles.clear();
    needles.set(name, needle);
  }
  return needle;
}

/** A response head's headers, found by name in its text; a repeated header gives its first value. */
export class HeadHeaders {
  readonly #text: string;
  readonly #lower: string;
  constructor(text: string) {
    this.#text = text;
    this.#lower = text.toLowerCase();
  }
  get(name: string): string | null {
    const needle = needleFor(name);
    const at = this.#lower.indexOf(needle);
    if (at < 0) return null;
    const start = at + needle.length;
    const end = this.#lower.indexOf("\r\n", start);
    return this.#text.slice(start, end < 0 ? undefined : end).trim();
  }
  /** How many times a header appears. */
  count(name: string): number {
    const needle = `\r\n${name.toLowerCase()}:`;
    let count = 0;
    for (let at = this.#lower.indexOf(needle); at >= 0; at = this.#lower.indexOf(needle, at + needle.length)) count++;
    return count;
  }
}

function parseHead(text: string): { head: ResponseHead; version: string } {
  const lineEnd = text.indexOf("\r\n");
  const statusLine = lineEnd < 0 ? text : text.slice(0, lineEnd);
  const match = STATUS_LINE.exec(statusLine);
  if (!match) throw new ResponseParseError(`invalid status line "${statusLine.slice(0, 40)}"`);
  const headers = new HeadHeaders(text);
  // Two lengths that disagree leave the body's end ambiguous (a response-splitting vector).
  if (headers.count("content-length") > 1 && new Set(headersValues(text, "content-length")).size > 1) {
    throw new ResponseParseError("conflicting content-length headers");
  }
  const keepAlive = !/\bclose\b/i.test(headers.get("connection") ?? "");
  return { head: { status: Number(match[2]), headers, keepAlive }, version: match[1]! };
}

function headersValues(text: string, name: string): string[] {
  return text
    .split("\r\n")
    .filter((line) => line.toLowerCase().startsWith(`${name}:`))
    .map((line) => line.slice(name.length + 1).trim());
}
