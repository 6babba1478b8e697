// The socket upstream client over real loopback sockets: a raw TCP server decides every byte, keep-alive, chunk and close.
import { describe, expect, it } from "bun:test";
import type { Socket } from "bun";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BodyReader } from "../../server/upstream/body-queue.ts";
import { UpstreamAbortError, type UpstreamClient, type UpstreamRequest } from "../../server/upstream/client.ts";
import { ResponseParseError } from "../../server/upstream/response-parser.ts";
import { createSocketUpstreamClient, type SocketClientOptions } from "../../server/upstream/socket-client.ts";
import { until } from "../_support/until.ts";

type RawConnection = {
  /** Order of arrival at the server, from 0. */
  index: number;
  socket: Socket<RawConnection>;
  requests: RawRequest[];
  closed: boolean;
  unread: Buffer[];
  unreadBytes: number;
  /** Head and body length of the request coming in, once its head is in. */
  expectedBytes: number | null;
};

type RawRequest = {
  connection: RawConnection;
  /** Request line and headers up to and including the blank line, as sent (latin1). */
  head: string;
  body: Buffer;
};

type RawServer = AsyncDisposable & {
  port: number;
  url: string;
  connections: RawConnection[];
  requests: RawRequest[];
  /** What the server does with each complete request; by default a 200 whose body is "ok". */
  onRequest: (request: RawRequest) => void;
  onDrain: (connection: RawConnection) => void;
};

/** A TCP server that reads HTTP/1.1 requests by content-length and leaves every byte of the answer to the test. */
function startRawServer(): RawServer {
  const server: RawServer = {
    port: 0,
    url: "",
    connections: [],
    requests: [],
    onRequest: (request) => request.connection.socket.write(answer(200, "ok")),
    onDrain: () => {},
    async [Symbol.asyncDispose]() {
      listener.stop(true);
    },
  };
  const listener = Bun.listen<RawConnection>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        const connection: RawConnection = {
          index: server.connections.length,
          socket,
          requests: [],
          closed: false,
          unread: [],
          unreadBytes: 0,
          expectedBytes: null,
        };
        socket.data = connection;
        server.connections.push(connection);
      },
      data(socket, data) {
        const connection = socket.data;
        connection.unread.push(data);
        connection.unreadBytes += data.byteLength;
        takeRequests(server, connection);
      },
      drain(socket) {
        server.onDrain(socket.data);
      },
      close(socket) {
        socket.data.closed = true;
      },
    },
  });
  server.port = listener.port;
  server.url = `http://127.0.0.1:${listener.port}`;
  return server;
}

function takeRequests(server: RawServer, connection: RawConnection) {
  while (connection.unreadBytes > 0) {
    if (connection.expectedBytes === null) {
      const buffered = Buffer.concat(connection.unread);
      connection.unread = [buffered];
      const headEnd = buffered.indexOf("\r\n\r\n");
      if (headEnd < 0) return;
      const length = /\r\ncontent-length: *(\d+)\r\n/i.exec(buffered.toString("latin1", 0, headEnd + 2));
      connection.expectedBytes = headEnd + 4 + Number(length?.[1] ?? 0);
    }
    // A large body comes in many reads: join them once it is all there.
    if (connection.unreadBytes < connection.expectedBytes) return;
    const buffered = Buffer.concat(connection.unread);
    const headEnd = buffered.indexOf("\r\n\r\n");
    const request: RawRequest = {
      connection,
      head: buffered.toString("latin1", 0, headEnd + 4),
      body: buffered.subarray(headEnd + 4, connection.expectedBytes),
    };
    const rest = buffered.subarray(connection.expectedBytes);
    connection.unread = rest.byteLength > 0 ? [rest] : [];
    connection.unreadBytes = rest.byteLength;
    connection.expectedBytes = null;
    connection.requests.push(request);
    server.requests.push(request);
    server.onRequest(request);
  }
}

function answer(status: number, body: string, headers: Record<string, string> = {}): string {
  let head = `HTTP/1.1 ${status} Whatever\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return `${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function openClient(options: SocketClientOptions = {}): UpstreamClient & AsyncDisposable {
  const client = createSocketUpstreamClient(options);
  return {
    ...client,
    async [Symbol.asyncDispose]() {
      client.close();
    },
  };
}

function postTo(client: UpstreamClient, server: RawServer, body: UpstreamRequest["body"] = "{}") {
  return client.post({ url: `${server.url}/openai/v1/chat/completions`, headers: {}, body });
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function readText(body: BodyReader): Promise<string | null> {
  const result = await body.read();
  return result.done ? null : text(result.value);
}

/** A port nothing listens on: one the system just handed out and took back. */
function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = listener;
  listener.stop(true);
  return port;
}

describe("socket upstream client: one call", () => {
  it("sends the exact request line, host, headers and body, and returns the status, headers and body", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = ({ connection }) =>
      connection.socket.write(answer(201, '{"ok":true}', { "X-Request-Id": "req-1", "Content-Type": "application/json" }));
    const body = JSON.stringify({ messages: [{ role: "user", content: "héllo ✓" }] });
    const call = client.post({
      url: `${server.url}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21`,
      headers: { "api-key": "secret", "content-type": "application/json" },
      body,
    });
    const response = await call.response;
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.head).toBe(
      "POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21 HTTP/1.1\r\n" +
        `host: 127.0.0.1:${server.port}\r\n` +
        "api-key: secret\r\n" +
        "content-type: application/json\r\n" +
        "accept-encoding: identity\r\n" +
        // Bytes, not characters: the body is UTF-8.
        `content-length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    expect(server.requests[0]!.body.toString("utf8")).toBe(body);
    expect(response.status).toBe(201);
    expect(response.headers.get("x-request-id")).toBe("req-1");
    expect(response.headers.get("X-REQUEST-ID")).toBe("req-1");
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("retry-after")).toBeNull();
    expect(text(await response.body.bytes())).toBe('{"ok":true}');
  });

  it("delivers a request body larger than the socket buffers whole and in order", async () => {
    await using server = startRawServer();
    await using client = openClient();
    const payload = patternBytes(16 * 1024 * 1024);
    const response = await postTo(client, server, new Uint8Array(payload)).response;
    expect(text(await response.body.bytes())).toBe("ok");
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.head).toContain(`\r\ncontent-length: ${payload.byteLength}\r\n`);
    expect(server.requests[0]!.body.byteLength).toBe(payload.byteLength);
    expect(server.requests[0]!.body.equals(payload)).toBe(true);
  });

  it("reads a body the server ends by closing the connection", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = ({ connection }) => {
      connection.socket.write("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil ");
      connection.socket.end("the close");
    };
    const response = await postTo(client, server).response;
    expect(text(await response.body.bytes())).toBe("until the close");
  });
});

describe("socket upstream client: keep-alive", () => {
  it("sends three sequential calls to one origin over one connection", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = (request) => request.connection.socket.write(answer(200, `answer ${server.requests.length}`));
    for (const n of [1, 2, 3]) {
      const response = await postTo(client, server, `call ${n}`).response;
      expect(text(await response.body.bytes())).toBe(`answer ${n}`);
    }
    expect(server.connections).toHaveLength(1);
    expect(server.connections[0]!.requests.map((request) => request.body.toString())).toEqual(["call 1", "call 2", "call 3"]);
  });

  it("opens a new connection after a response that says connection: close, and closes the old one itself", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = (request) =>
      request.connection.socket.write(answer(200, "ok", request.connection.index === 0 ? { Connection: "close" } : {}));
    const first = await postTo(client, server).response;
    expect(text(await first.body.bytes())).toBe("ok");
    // The server left it open: the client must be the one to close it.
    await until(() => server.connections[0]!.closed);
    const second = await postTo(client, server).response;
    expect(text(await second.body.bytes())).toBe("ok");
    expect(server.connections.map((connection) => connection.requests.length)).toEqual([1, 1]);
  });

  it("does not reuse a connection idle for as long as the server's keep-alive timeout allows, less a second", async () => {
    await using server = startRawServer();
    let nowMs = 0;
    await using client = openClient({ now: () => nowMs });
    server.onRequest = (request) => request.connection.socket.write(answer(200, "ok", { "Keep-Alive": "timeout=5" }));
    await (await postTo(client, server).response).body.bytes();
    nowMs = 3999;
    await (await postTo(client, server).response).body.bytes();
    expect(server.connections).toHaveLength(1);
    nowMs = 3999 + 4000;
    await (await postTo(client, server).response).body.bytes();
    expect(server.connections.map((connection) => connection.requests.length)).toEqual([2, 1]);
    await until(() => server.connections[0]!.closed);
  });
});

describe("socket upstream client: stale pooled connections", () => {
  it("sends a call once more on a fresh connection when the server closes a reused one without answering", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = (request) => {
      const { connection } = request;
      // The server timed the idle connection out just as the second request came in: it goes without an answer.
      if (connection.index === 0 && connection.requests.length === 2) connection.socket.end();
      else connection.socket.write(answer(200, `answer on connection ${connection.index}`));
    };
    const first = await postTo(client, server, "first").response;
    expect(text(await first.body.bytes())).toBe("answer on connection 0");
    const second = await postTo(client, server, "second").response;
    expect(second.status).toBe(200);
    expect(text(await second.body.bytes())).toBe("answer on connection 1");
    expect(server.connections.map((connection) => connection.requests.map((request) => request.body.toString()))).toEqual([
      ["first", "second"],
      ["second"],
    ]);
    expect(server.connections[1]!.requests[0]!.head).toBe(server.connections[0]!.requests[1]!.head);
  });

  it("succeeds whichever way the race goes when the server closes the connection right after answering", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = ({ connection }) => connection.socket.end(answer(200, `answer on connection ${connection.index}`));
    const first = await postTo(client, server, "first").response;
    expect(text(await first.body.bytes())).toBe("answer on connection 0");
    // No waiting for the close: the call either sees it first or writes into the closed connection and resends.
    const second = await postTo(client, server, "second").response;
    expect(text(await second.body.bytes())).toBe("answer on connection 1");
    expect(server.connections).toHaveLength(2);
    expect(server.connections[1]!.requests.map((request) => request.body.toString())).toEqual(["second"]);
  });

  it("does not resend when a reused connection closes after part of an answer", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = ({ connection }) => {
      if (connection.requests.length === 1) connection.socket.write(answer(200, "ok"));
      else connection.socket.end("HTTP/1.1 200 OK\r\ncontent-len");
    };
    await (await postTo(client, server).response).body.bytes();
    await expect(postTo(client, server).response).rejects.toBeInstanceOf(ResponseParseError);
    expect(server.connections).toHaveLength(1);
    expect(server.requests).toHaveLength(2);
  });

  it("rejects, without resending, when a fresh connection closes before any byte of an answer", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = ({ connection }) => connection.socket.end();
    await expect(postTo(client, server).response).rejects.toThrow("connection closed before a response");
    expect(server.connections).toHaveLength(1);
    expect(server.requests).toHaveLength(1);
  });
});

describe("socket upstream client: chunked streaming", () => {
  it("yields each piece of a chunked body as it arrives, before the response ends", async () => {
    await using server = startRawServer();
    await using client = openClient();
    let stream: Socket<RawConnection> | undefined;
    server.onRequest = ({ connection }) => {
      stream = connection.socket;
      stream.write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
    };
    const response = await postTo(client, server).response;
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const { body } = response;
    stream!.write("9\r\ndata: 1\n\n\r\n");
    expect(await readText(body)).toBe("data: 1\n\n");
    // A read waits for bytes not sent yet; a chunk split across writes comes out as it arrives.
    const next = body.read();
    stream!.write("9\r\ndata:");
    const partial = await next;
    expect(partial.done ? null : text(partial.value)).toBe("data:");
    stream!.write(" 2\n\n\r\n");
    expect(await readText(body)).toBe(" 2\n\n");
    const end = body.read();
    stream!.write("0\r\n\r\n");
    expect(await end).toEqual({ done: true, value: undefined });
    // The terminating chunk left the connection clean for the next call.
    server.onRequest = ({ connection }) => connection.socket.write(answer(200, "after the stream"));
    expect(text(await (await postTo(client, server).response).body.bytes())).toBe("after the stream");
    expect(server.connections).toHaveLength(1);
  });
});

describe("socket upstream client: abort and cancel", () => {
  it("rejects a call aborted before the response head, and drops its connection", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = () => {};
    const call = postTo(client, server);
    await until(() => server.requests.length === 1);
    call.abort();
    await expect(call.response).rejects.toBeInstanceOf(UpstreamAbortError);
    await until(() => server.connections[0]!.closed);
    server.onRequest = ({ connection }) => connection.socket.write(answer(200, "ok"));
    expect(text(await (await postTo(client, server).response).body.bytes())).toBe("ok");
    expect(server.connections.map((connection) => connection.requests.length)).toEqual([1, 1]);
  });

  it("sends nothing for a call aborted before its connection is open", async () => {
    await using server = startRawServer();
    await using client = openClient();
    const call = postTo(client, server);
    call.abort();
    await expect(call.response).rejects.toBeInstanceOf(UpstreamAbortError);
    await until(() => server.connections.length === 1 && server.connections[0]!.closed);
    expect(server.requests).toHaveLength(0);
  });

  it("fails a pending body read when aborted mid-body, closes the connection and does not reuse it", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = ({ connection }) => connection.socket.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst part");
    const call = postTo(client, server);
    const response = await call.response;
    expect(await readText(response.body)).toBe("first part");
    const pending = response.body.read();
    call.abort();
    await expect(pending).rejects.toBeInstanceOf(UpstreamAbortError);
    await until(() => server.connections[0]!.closed);
    server.onRequest = ({ connection }) => connection.socket.write(answer(200, "ok"));
    expect(text(await (await postTo(client, server).response).body.bytes())).toBe("ok");
    expect(server.connections).toHaveLength(2);
  });

  it("drops the connection when the reader cancels a body before its end", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = ({ connection }) => connection.socket.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst part");
    const response = await postTo(client, server).response;
    expect(await readText(response.body)).toBe("first part");
    await response.body.cancel();
    await until(() => server.connections[0]!.closed);
    server.onRequest = ({ connection }) => connection.socket.write(answer(200, "ok"));
    expect(text(await (await postTo(client, server).response).body.bytes())).toBe("ok");
    expect(server.connections).toHaveLength(2);
  });
});

describe("socket upstream client: failures", () => {
  it("fails the body when the server closes the connection before the content-length is reached", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = ({ connection }) => connection.socket.end("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nforty bytes of a hundred, then a close..");
    const response = await postTo(client, server).response;
    expect(response.status).toBe(200);
    await expect(response.body.bytes()).rejects.toThrow("connection closed mid-body");
  });

  it("fails a pending read when the server resets the connection mid-stream", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = ({ connection }) => connection.socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n");
    const response = await postTo(client, server).response;
    expect(await readText(response.body)).toBe("hello");
    const pending = response.body.read();
    server.connections[0]!.socket.terminate();
    await expect(pending).rejects.toThrow();
  });

  it("rejects when nothing listens on the port", async () => {
    await using client = openClient();
    const call = client.post({ url: `http://127.0.0.1:${freePort()}/`, headers: {}, body: "{}" });
    await expect(call.response).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("rejects a malformed response and does not reuse its connection", async () => {
    await using server = startRawServer();
    await using client = openClient();
    server.onRequest = ({ connection }) => connection.socket.write(connection.requests.length === 1 ? answer(200, "ok") : "HTTP/1.1 abc\r\n\r\n");
    expect(text(await (await postTo(client, server).response).body.bytes())).toBe("ok");
    await expect(postTo(client, server).response).rejects.toThrow(new ResponseParseError('invalid status line "HTTP/1.1 abc"'));
    await until(() => server.connections[0]!.closed);
    expect(text(await (await postTo(client, server).response).body.bytes())).toBe("ok");
    expect(server.connections.map((connection) => connection.requests.length)).toEqual([2, 1]);
  });
});

describe("socket upstream client: backpressure", () => {
  it("stops reading a body nobody reads, then delivers all of it in order", async () => {
    await using server = startRawServer();
    await using client = openClient();
    // Larger than what the kernel's loopback buffers can hold, so only a paused client holds the server back.
    const payload = patternBytes(16 * 1024 * 1024);
    let unsent = payload;
    let sentBytes = 0;
    const pump = (connection: RawConnection) => {
      while (unsent.byteLength > 0) {
        const written = connection.socket.write(unsent);
        if (written <= 0) return;
        sentBytes += written;
        unsent = unsent.subarray(written);
      }
    };
    server.onDrain = pump;
    server.onRequest = ({ connection }) => {
      connection.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${payload.byteLength}\r\n\r\n`);
      pump(connection);
    };
    const response = await postTo(client, server).response;
    // The server sends as fast as the client takes: wait until it has made no progress for a few polls.
    let lastSent = -1;
    let stillPolls = 0;
    await until(
      () => {
        stillPolls = sentBytes === lastSent ? stillPolls + 1 : 0;
        lastSent = sentBytes;
        return stillPolls >= 5;
      },
      { intervalMs: 20, message: "the server stops making progress" },
    );
    expect(sentBytes).toBeGreaterThan(0);
    expect(sentBytes).toBeLessThan(payload.byteLength);
    const received = await response.body.bytes();
    expect(received.byteLength).toBe(payload.byteLength);
    expect(Buffer.from(received.buffer, received.byteOffset, received.byteLength).equals(payload)).toBe(true);
    // Resumed and released: the connection serves the next call.
    server.onRequest = ({ connection }) => connection.socket.write(answer(200, "ok"));
    expect(text(await (await postTo(client, server).response).body.bytes())).toBe("ok");
    expect(server.connections).toHaveLength(1);
  });
});

describe("socket upstream client: TLS", () => {
  it("refuses a certificate it does not trust, and accepts it from a configured CA", async () => {
    await using tls = await startTlsServer();
    const url = `https://localhost:${tls.port}/openai/v1/chat/completions`;
    await using strict = openClient();
    // The refusal names the certificate, not just the close that follows it.
    await expect(strict.post({ url, headers: {}, body: "{}" }).response).rejects.toThrow(/self[- ]signed|SELF_SIGNED/i);
    expect(tls.received).toEqual([]);
    await using trusting = openClient({ tls: { ca: tls.cert } });
    const response = await trusting.post({ url, headers: {}, body: "over tls" }).response;
    expect(response.status).toBe(200);
    expect(text(await response.body.bytes())).toBe("tls: over tls");
    expect(tls.received).toEqual(["over tls"]);
  });

  it("trusts a CA given in NODE_EXTRA_CA_CERTS, as fetch does (a company's own CA, without code)", async () => {
    await using tls = await startTlsServer();
    const clientModule = join(import.meta.dir, "../../server/upstream/socket-client.ts");
    const script = `
      const { createSocketUpstreamClient } = await import(${JSON.stringify(clientModule)});
      const client = createSocketUpstreamClient();
      const response = await client.post({ url: "https://localhost:${tls.port}/", headers: {}, body: "extra ca" }).response;
      console.log(response.status, new TextDecoder().decode(await response.body.bytes()));
      client.close();`;
    const child = Bun.spawn(["bun", "-e", script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: tls.certPath }, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect({ code, out: out.trim(), err }).toEqual({ code: 0, out: "200 tls: extra ca", err: "" });
    expect(tls.received).toEqual(["extra ca"]);
  });

  it("refuses a trusted certificate that does not name the host it called", async () => {
    await using tls = await startTlsServer();
    await using client = openClient({ tls: { ca: tls.cert } });
    // The certificate names localhost only.
    await expect(client.post({ url: `https://127.0.0.1:${tls.port}/`, headers: {}, body: "{}" }).response).rejects.toThrow(/altname|IP|host/i);
    expect(tls.received).toEqual([]);
  });
});

describe("socket upstream client: connection cap", () => {
  it("opens at most maxConnectionsPerOrigin connections; the other calls wait their turn and all complete", async () => {
    await using server = startRawServer();
    const held: RawRequest[] = [];
    server.onRequest = (request) => held.push(request);
    await using client = openClient({ maxConnectionsPerOrigin: 2 });
    const calls = [1, 2, 3, 4, 5].map((n) => postTo(client, server, `call ${n}`));
    await until(() => held.length === 2);
    // Give the waiting calls every chance to open more connections than allowed.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.connections).toHaveLength(2);
    expect(held.map((request) => request.body.toString())).toEqual(["call 1", "call 2"]);
    // Each answer frees a connection for the next call in line, in order.
    for (let answered = 0; answered < 5; answered++) {
      await until(() => held.length > answered);
      const request = held[answered]!;
      request.connection.socket.write(answer(200, `done ${request.body.toString()}`));
    }
    const bodies = await Promise.all(calls.map(async (call) => text(await (await call.response).body.bytes())));
    expect(bodies).toEqual(["done call 1", "done call 2", "done call 3", "done call 4", "done call 5"]);
    expect(server.connections).toHaveLength(2);
  });

  it("a call aborted while waiting for a connection leaves the line and never reaches the server", async () => {
    await using server = startRawServer();
    const held: RawRequest[] = [];
    server.onRequest = (request) => held.push(request);
    await using client = openClient({ maxConnectionsPerOrigin: 1 });
    const first = postTo(client, server, "first");
    const waiting = postTo(client, server, "waiting");
    const third = postTo(client, server, "third");
    await until(() => held.length === 1);
    waiting.abort();
    await expect(waiting.response).rejects.toBeInstanceOf(UpstreamAbortError);
    held[0]!.connection.socket.write(answer(200, "one"));
    expect(text(await (await first.response).body.bytes())).toBe("one");
    await until(() => held.length === 2);
    held[1]!.connection.socket.write(answer(200, "three"));
    expect(text(await (await third.response).body.bytes())).toBe("three");
    expect(server.requests.map((request) => request.body.toString())).toEqual(["first", "third"]);
  });

  it("a refused or dropped connection frees its place for a waiting call", async () => {
    await using server = startRawServer();
    let requests = 0;
    // The first request's connection is cut without an answer; the next is answered.
    server.onRequest = (request) => {
      requests++;
      if (requests === 1) request.connection.socket.terminate();
      else request.connection.socket.write(answer(200, "after the cut"));
    };
    await using client = openClient({ maxConnectionsPerOrigin: 1 });
    const cut = postTo(client, server, "cut");
    const next = postTo(client, server, "next");
    await expect(cut.response).rejects.toThrow();
    expect(text(await (await next.response).body.bytes())).toBe("after the cut");
  });
});

describe("socket upstream client: close", () => {
  it("closes idle pooled connections", async () => {
    await using server = startRawServer();
    const client = createSocketUpstreamClient();
    expect(text(await (await postTo(client, server).response).body.bytes())).toBe("ok");
    expect(server.connections[0]!.closed).toBe(false);
    client.close();
    await until(() => server.connections[0]!.closed);
  });
});

/** Bytes 0..250 repeating: a shift or a lost piece anywhere shows. */
function patternBytes(size: number): Buffer {
  return Buffer.alloc(size, Buffer.from(Array.from({ length: 251 }, (_, i) => i)));
}

/** Bun.serve over TLS with a fresh self-signed certificate for localhost; records the bodies it was sent. */
async function startTlsServer() {
  const dir = await mkdtemp(join(tmpdir(), "upstream-tls-"));
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  const openssl = Bun.spawnSync(
    ["/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
      .concat(["-keyout", keyPath, "-out", certPath, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"]),
    { stderr: "pipe" },
  );
  if (openssl.exitCode !== 0) throw new Error(`openssl failed: ${openssl.stderr.toString()}`);
  const cert = await Bun.file(certPath).text();
  const received: string[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    tls: { cert, key: await Bun.file(keyPath).text() },
    async fetch(request) {
      const body = await request.text();
      received.push(body);
      return new Response(`tls: ${body}`);
    },
  });
  return {
    port: server.port,
    cert,
    certPath,
    received,
    async [Symbol.asyncDispose]() {
      await server.stop(true);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
