// The bytes of one upstream POST: request line, Host, the caller's headers, content-length, then the body.

export type RequestTarget = {
  /** One pool per scheme, host and port. */
  originKey: string;
  hostname: string;
  port: number;
  tls: boolean;
  /** SNI and certificate name: the host, unless it is an IP address. */
  serverName: string | null;
  /** Request line and Host header, ready to be followed by the other headers. */
  prefix: string;
};

const MAX_CACHED_TARGETS = 1024;
const UNSAFE_HEADER_TEXT = /[\r\n\0]/;

export type RequestEncoder = {
  targetOf(url: string): RequestTarget;
  encode(target: RequestTarget, request: { headers: Readonly<Record<string, string>>; body: Uint8Array | string }): Uint8Array;
};

/** Parses each URL once (the proxy calls a handful: instances × operations) and each frozen headers object once. */
export function createRequestEncoder(): RequestEncoder {
  const targets = new Map<string, RequestTarget>();
  const headerBlocks = new WeakMap<object, string>();
  return {
    targetOf(url) {
      const cached = targets.get(url);
      if (cached) return cached;
      const target = parseTarget(url);
      if (targets.size >= MAX_CACHED_TARGETS) targets.clear();
      targets.set(url, target);
      return target;
    },
    encode(target, request) {
      let block = headerBlocks.get(request.headers);
      if (block === undefined) {
        block = headerBlockOf(request.headers);
        if (Object.isFrozen(request.headers)) headerBlocks.set(request.headers, block);
      }
      const body = typeof request.body === "string" ? Buffer.from(request.body) : request.body;
      const head = `${target.prefix}${block}content-length: ${body.byteLength}\r\n\r\n`;
      const headBytes = Buffer.byteLength(head, "latin1");
      const bytes = Buffer.allocUnsafe(headBytes + body.byteLength);
      bytes.write(head, 0, "latin1");
      bytes.set(body, headBytes);
      return bytes;
    },
  };
}

function parseTarget(url: string): RequestTarget {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new TypeError(`not an http(s) URL: ${parsed.protocol}`);
  const tls = parsed.protocol === "https:";
  const hostname = parsed.hostname.startsWith("[") ? parsed.hostname.slice(1, -1) : parsed.hostname;
  const target: RequestTarget = {
    originKey: `${parsed.protocol}//${parsed.host}`,
    hostname,
    port: parsed.port === "" ? (tls ? 443 : 80) : Number(parsed.port),
    tls,
    serverName: isIpAddress(hostname) ? null : hostname,
    prefix: `POST ${parsed.pathname}${parsed.search} HTTP/1.1\r\nhost: ${parsed.host}\r\n`,
  };
  return target;
}

function headerBlockOf(headers: Readonly<Record<string, string>>): string {
  let block = "";
  let hasAcceptEncoding = false;
  for (const name in headers) {
    const value = headers[name]!;
    // A line break in a configured key would let it add headers of its own.
    if (UNSAFE_HEADER_TEXT.test(name) || UNSAFE_HEADER_TEXT.test(value)) throw new TypeError(`header ${JSON.stringify(name)} holds a line break`);
    const lower = name.toLowerCase();
    if (lower === "accept-encoding") hasAcceptEncoding = true;
    if (lower === "host" || lower === "content-length" || lower === "transfer-encoding" || lower === "connection") continue;
    block += `${name}: ${value}\r\n`;
  }
  // Without it a server may compress, and the proxy reads usage from the body.
  if (!hasAcceptEncoding) block += "accept-encoding: identity\r\n";
  return block;
}

function isIpAddress(hostname: string): boolean {
  return /^\d{1,3}(?:\.\d{1,3}){3}$/.test(hostname) || hostname.includes(":");
}
