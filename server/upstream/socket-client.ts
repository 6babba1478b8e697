// The upstream client the proxy uses by default: HTTP/1.1 over Bun's own TCP/TLS sockets, with a keep-alive pool
// per origin. It costs about a third less CPU per call than fetch on the bench machine (see README, Upstream connections),
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
  /**
   * Connections open (or opening) to one origin at most; further calls wait for one to come free. Keeps a burst
   * of clients from opening a socket each and running the process out of file descriptors (fetch caps at 256 too).
   */
  maxConnectionsPerOrigin?: number;
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
  /** Counted in its origin's open connections (until it is closed or dropped). */
  counted: boolean;
};

type Origin = {
  idle: Connection[];
  /** Connections open or opening. */
  open: number;
  /** Calls waiting for a connection, oldest first. */
  waiting: Exchange[];
  serveScheduled: boolean;
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
const DEFAULT_MAX_CONNECTIONS_PER_ORIGIN = 256;

export function createSocketUpstreamClient(options: SocketClientOptions = {}): UpstreamClient {
  const now = options.now ?? Date.now;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const maxConnections = options.maxConnectionsPerOrigin ?? DEFAULT_MAX_CONNECTIONS_PER_ORIGIN;
  const origins = new Map<string, Origin>();
  const encoder = createRequestEncoder();

  const originOf = (key: string): Origin => {
    let origin = origins.get(key);
    if (!origin) origins.set(key, (origin = { idle: [], open: 0, waiting: [], serveScheduled: false }));
    return origin;
  };

  /** The connection no longer counts against its origin's cap: a waiting call may open or take one. */
  const uncount = (connection: Connection) => {
    if (!connection.counted) return;
    connection.counted = false;
    const origin = originOf(connection.key);
    origin.open--;
    scheduleServe(origin);
  };

  /** The connection serves no more calls: out of the idle pool and of its origin's count. */
  const retire = (connection: Connection) => {
    connection.closed = true;
    forgetIdle(connection);
    uncount(connection);
  };

  const destroy = (connection: Connection) => {
    retire(connection);
    connection.socket?.terminate();
  };

  /** Drops a connection mid-exchange: whatever it still delivers belongs to nobody. */
  const drop = (connection: Connection) => {
    connection.exchange = null;
    destroy(connection);
  };

  const forgetIdle = (connection: Connection) => {
    const pool = originOf(connection.key).idle;
    const at = pool.indexOf(connection);
    if (at >= 0) pool.splice(at, 1);
  };

  const release = (connection: Connection, head: ResponseHead) => {
    connection.exchange = null;
    if (connection.closed) return;
    if (!head.keepAlive) {
      retire(connection);
      connection.socket?.end();
      return;
    }
    connection.reused = true;
    connection.idleSince = now();
    connection.idleLimitMs = keepAliveLimitMs(head, idleTimeoutMs);
    const origin = originOf(connection.key);
    origin.idle.push(connection);
    scheduleServe(origin);
  };

  // After the current socket callback, not inside it: a released connection may still be finishing its data event.
  const scheduleServe = (origin: Origin) => {
    if (origin.serveScheduled || origin.waiting.length === 0) return;
    origin.serveScheduled = true;
    queueMicrotask(() => {
      origin.serveScheduled = false;
      serveWaiting(origin);
    });
  };

  const serveWaiting = (origin: Origin) => {
    // An aborted call has left the line already (see abort).
    while (origin.waiting.length > 0) {
      const exchange = origin.waiting[0]!;
      const pooled = takeIdle(origin);
      if (pooled) {
        origin.waiting.shift();
        assign(pooled, exchange);
      } else if (origin.open < maxConnections) {
        origin.waiting.shift();
        connect(exchange);
      } else return;
    }
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
    retire(connection);
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
      counted: true,
    };
    originOf(target.originKey).open++;
    const tls = target.tls ? { ...(target.serverName ? { serverName: target.serverName } : {}), ...options.tls } : undefined;
    let connecting: Promise<Socket<Connection>>;
    try {
      connecting = Bun.connect<Connection>({ hostname: target.hostname, port: target.port, tls, data: connection, socket: handlers });
    } catch (error) {
      // Bun refuses some addresses before trying them; the attempt fails like a refused connection.
      uncount(connection);
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
        uncount(connection);
        if (!exchange.aborted) fail(exchange, error);
      },
    );
  };

  const takeIdle = (origin: Origin): Connection | undefined => {
    // The most recently used first: the least likely to have been timed out by its server.
    for (let connection = origin.idle.pop(); connection; connection = origin.idle.pop()) {
      if (!connection.closed && now() - connection.idleSince < connection.idleLimitMs) return connection;
      destroy(connection);
    }
    return undefined;
  };

  const sweep = setInterval(() => {
    const at = now();
    for (const origin of origins.values()) {
      for (const connection of [...origin.idle]) if (at - connection.idleSince >= connection.idleLimitMs) destroy(connection);
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
      // Joins the line; with nobody ahead it is served at once, from the pool or a new connection.
      const origin = originOf(target.originKey);
      origin.waiting.push(exchange);
      serveWaiting(origin);
      return {
        response,
        abort() {
          if (exchange.aborted || exchange.done) return;
          exchange.aborted = true;
          fail(exchange, new UpstreamAbortError("The upstream call was aborted."));
          if (exchange.connection) drop(exchange.connection);
          else {
            // Still waiting for a connection: it leaves the line now rather than when its turn comes.
            const waiting = originOf(target.originKey).waiting;
            const at = waiting.indexOf(exchange);
            if (at >= 0) waiting.splice(at, 1);
          }
        },
      };
    },
    close() {
      clearInterval(sweep);
      for (const origin of origins.values()) for (const connection of [...origin.idle]) destroy(connection);
    },
  };
}

/** `keep-alive: timeout=N` is the server saying when it will close an idle connection: leave a second's margin. */
function keepAliveLimitMs(head: ResponseHead, fallbackMs: number): number {
  const hint = /timeout=(\d+)/i.exec(head.headers.get("keep-alive") ?? "");
  return hint ? Math.min(fallbackMs, Math.max(0, Number(hint[1]) - 1) * 1000) : fallbackMs;
}
