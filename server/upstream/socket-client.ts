// The upstream client the proxy uses by default: HTTP/1.1 over Bun's own TCP/TLS sockets, with a keep-alive pool
// per origin. It costs about a third less CPU per call than fetch on the bench machine (see README, Performance),
// because a call is one socket write and one read on the JS thread, with no request, header or stream objects.
import type { Socket, SocketHandler } from "bun";
import { createBodyQueue, type BodyQueue } from "./body-queue.ts";
import { UpstreamAbortError, type UpstreamCall, type UpstreamClient, type UpstreamRequest, type UpstreamResponse } from "./client.ts";
import { createResponseParser, type ResponseHead, type ResponseParser } from "./response-parser.ts";
import { createRequestEncoder, type RequestTarget } from "./request-head.ts";

export type SocketClientOptions = {
  /** An idle pooled connection older than this is closed (a server's own keep-alive timeout may be shorter). */
  idleTimeoutMs?: number;
  /** Extra TLS settings (a private CA); certificates are always verified. */
  tls?: { ca?: string | string[] };
  now?: () => number;
};

type Connection = {
  socket: Socket<Connection> | null;
  key: string;
  exchange: Exchange | null;
  /** Has served a response before: a close with no answer may just be the server timing out an idle connection. */
  reused: boolean;
  closed: boolean;
  idleSince: number;
  idleLimitMs: number;
  /** Request bytes the socket has not taken yet. */
  outbox: Uint8Array | null;
  /** Why the server's certificate was refused: a clearer reason than the close that follows. */
  tlsError: Error | null;
};

type Exchange = {
  target: RequestTarget;
  bytes: Uint8Array;
  parser: ResponseParser;
  body: BodyQueue;
  batch: Uint8Array[];
  connection: Connection | null;
  head: ResponseHead | null;
  resolve: (response: UpstreamResponse) => void;
  reject: (error: Error) => void;
  aborted: boolean;
  done: boolean;
  retried: boolean;
};

const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

export function createSocketUpstreamClient(options: SocketClientOptions = {}): UpstreamClient {
  const now = options.now ?? Date.now;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const idle = new Map<string, Connection[]>();
  const encoder = createRequestEncoder();

  const destroy = (connection: Connection) => {
    connection.closed = true;
    forgetIdle(connection);
    connection.socket?.terminate();
  };

  /** Drops a connection mid-exchange: whatever it still delivers belongs to nobody. */
  const drop = (connection: Connection) => {
    connection.exchange = null;
    destroy(connection);
  };

  const forgetIdle = (connection: Connection) => {
    const pool = idle.get(connection.key);
    const at = pool ? pool.indexOf(connection) : -1;
    if (at >= 0) pool!.splice(at, 1);
  };

  const release = (connection: Connection, head: ResponseHead) => {
    connection.exchange = null;
    if (connection.closed) return;
    if (!head.keepAlive) {
      connection.closed = true;
      connection.socket?.end();
      return;
    }
    connection.reused = true;
    connection.idleSince = now();
    connection.idleLimitMs = keepAliveLimitMs(head, idleTimeoutMs);
    let pool = idle.get(connection.key);
    if (!pool) idle.set(connection.key, (pool = []));
    pool.push(connection);
  };

  const fail = (exchange: Exchange, error: Error) => {
    if (exchange.head) exchange.body.fail(error);
    else exchange.reject(error);
  };

  const flushBatch = (exchange: Exchange) => {
    const { batch } = exchange;
    if (batch.length === 0) return;
    exchange.body.push(batch.length === 1 ? batch[0]! : Buffer.concat(batch));
    batch.length = 0;
  };

  const write = (connection: Connection, bytes: Uint8Array) => {
    const written = connection.socket!.write(bytes);
    if (written < 0) return;
    connection.outbox = written < bytes.byteLength ? bytes.subarray(written) : null;
  };

  const assign = (connection: Connection, exchange: Exchange) => {
    connection.exchange = exchange;
    exchange.connection = connection;
    write(connection, exchange.bytes);
  };

  const handlers: SocketHandler<Connection> = {
    data(socket, data) {
      const connection = socket.data;
      const exchange = connection.exchange;
      // Bytes nobody asked for: the connection is out of step with its server.
      if (!exchange) return destroy(connection);
      try {
        exchange.parser.push(data);
        flushBatch(exchange);
      } catch (error) {
        drop(connection);
        if (!exchange.done) fail(exchange, error as Error);
      }
    },
    drain(socket) {
      const connection = socket.data;
      if (connection.outbox) write(connection, connection.outbox);
    },
    close(socket, error) {
      closed(socket.data, error);
    },
    handshake(socket, _success, authorizationError) {
      // Certificates are always verified: a refused one ends the connection here, whatever the defaults.
      if (!authorizationError) return;
      socket.data.tlsError = authorizationError;
      socket.terminate();
    },
    error(socket, error) {
      closed(socket.data, error);
      socket.terminate();
    },
  };

  const closed = (connection: Connection, error?: Error) => {
    connection.closed = true;
    forgetIdle(connection);
    const exchange = connection.exchange;
    connection.exchange = null;
    if (!exchange || exchange.done || exchange.aborted) return;
    try {
      exchange.parser.closed();
      flushBatch(exchange);
    } catch (parseError) {
      // A server that closed a pooled connection as we reused it never saw the request: send it once more, fresh.
      if (connection.reused && !exchange.retried && exchange.parser.bytesSeen === 0) {
        exchange.retried = true;
        connect(exchange);
        return;
      }
      fail(exchange, connection.tlsError ?? error ?? (parseError as Error));
    }
  };

  const connect = (exchange: Exchange) => {
    const { target } = exchange;
    const connection: Connection = {
      socket: null,
      key: target.originKey,
      exchange: null,
      reused: false,
      closed: false,
      idleSince: 0,
      idleLimitMs: idleTimeoutMs,
      outbox: null,
      tlsError: null,
    };
    const tls = target.tls ? { ...(target.serverName ? { serverName: target.serverName } : {}), ...options.tls } : undefined;
    let connecting: Promise<Socket<Connection>>;
    try {
      connecting = Bun.connect<Connection>({ hostname: target.hostname, port: target.port, tls, data: connection, socket: handlers });
    } catch (error) {
      // Bun refuses some addresses before trying them; the attempt fails like a refused connection.
      fail(exchange, error as Error);
      return;
    }
    connecting.then(
      (socket) => {
        connection.socket = socket;
        if (exchange.aborted) return destroy(connection);
        assign(connection, exchange);
      },
      (error: Error) => {
        if (!exchange.aborted) fail(exchange, error);
      },
    );
  };

  const takeIdle = (key: string): Connection | undefined => {
    const pool = idle.get(key);
    // The most recently used first: the least likely to have been timed out by its server.
    for (let connection = pool?.pop(); connection; connection = pool?.pop()) {
      if (!connection.closed && now() - connection.idleSince < connection.idleLimitMs) return connection;
      destroy(connection);
    }
    return undefined;
  };

  const sweep = setInterval(() => {
    const at = now();
    for (const pool of idle.values()) {
      for (const connection of [...pool]) if (at - connection.idleSince >= connection.idleLimitMs) destroy(connection);
    }
  }, Math.max(1000, Math.min(idleTimeoutMs, 10_000)));
  sweep.unref();

  return {
    post(request: UpstreamRequest): UpstreamCall {
      const target = encoder.targetOf(request.url);
      let resolve!: (response: UpstreamResponse) => void;
      let reject!: (error: Error) => void;
      const response = new Promise<UpstreamResponse>((onHead, onError) => {
        resolve = onHead;
        reject = onError;
      });
      const exchange: Exchange = {
        target,
        bytes: encoder.encode(target, request),
        parser: null as unknown as ResponseParser,
        body: null as unknown as BodyQueue,
        batch: [],
        connection: null,
        head: null,
        resolve,
        reject,
        aborted: false,
        done: false,
        retried: false,
      };
      exchange.body = createBodyQueue({
        pause: () => exchange.connection?.socket?.pause(),
        resume: () => exchange.connection?.socket?.resume(),
        cancel: () => {
          if (!exchange.done && exchange.connection) drop(exchange.connection);
        },
      });
      exchange.parser = createResponseParser({
        head(head) {
          exchange.head = head;
          resolve({ status: head.status, headers: head.headers, body: exchange.body.reader });
        },
        body(bytes) {
          exchange.batch.push(bytes);
        },
        end() {
          exchange.done = true;
          flushBatch(exchange);
          exchange.body.end();
          if (exchange.connection) release(exchange.connection, exchange.head!);
        },
      });
      const pooled = takeIdle(target.originKey);
      if (pooled) assign(pooled, exchange);
      else connect(exchange);
      return {
        response,
        abort() {
          if (exchange.aborted || exchange.done) return;
          exchange.aborted = true;
          fail(exchange, new UpstreamAbortError("The upstream call was aborted."));
          if (exchange.connection) drop(exchange.connection);
        },
      };
    },
    close() {
      clearInterval(sweep);
      for (const pool of idle.values()) for (const connection of [...pool]) destroy(connection);
      idle.clear();
    },
  };
}

/** `keep-alive: timeout=N` is the server saying when it will close an idle connection: leave a second's margin. */
function keepAliveLimitMs(head: ResponseHead, fallbackMs: number): number {
  const hint = /timeout=(\d+)/i.exec(head.headers.get("keep-alive") ?? "");
  return hint ? Math.min(fallbackMs, Math.max(0, Number(hint[1]) - 1) * 1000) : fallbackMs;
}
