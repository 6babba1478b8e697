import { describe, expect, it } from "bun:test";
import { createRequestEncoder } from "../../server/upstream/request-head.ts";

const URL_WITH_QUERY = "http://127.0.0.1:8080/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
const PREFIX = "POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n";
const BODY = '{"messages":[{"role":"user","content":"hi"}]}';

/** Every byte as one latin1 character, so comparing strings compares the bytes exactly. */
const latin1 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
const headOf = (bytes: Uint8Array) => latin1(bytes).split("\r\n\r\n")[0] ?? "";
const linesOf = (bytes: Uint8Array) => headOf(bytes).split("\r\n");

describe("request encoder targets", () => {
  it("parses an http URL with a port, path and query into a target", () => {
    const encoder = createRequestEncoder();
    expect(encoder.targetOf(URL_WITH_QUERY)).toEqual({
      originKey: "http://127.0.0.1:8080",
      hostname: "127.0.0.1",
      port: 8080,
      tls: false,
      serverName: null,
      prefix: PREFIX,
    });
  });

  it("defaults https to port 443, names the host for SNI, and leaves the default port out of host", () => {
    const encoder = createRequestEncoder();
    expect(encoder.targetOf("https://east.openai.azure.com/openai/v1/chat/completions")).toEqual({
      originKey: "https://east.openai.azure.com",
      hostname: "east.openai.azure.com",
      port: 443,
      tls: true,
      serverName: "east.openai.azure.com",
      prefix: "POST /openai/v1/chat/completions HTTP/1.1\r\nhost: east.openai.azure.com\r\n",
    });
  });

  it("defaults http to port 80 and a bare origin to the path /", () => {
    const target = createRequestEncoder().targetOf("http://upstream.local");
    expect(target).toMatchObject({ port: 80, tls: false, serverName: "upstream.local", originKey: "http://upstream.local" });
    expect(target.prefix).toBe("POST / HTTP/1.1\r\nhost: upstream.local\r\n");
  });

  it("gives no server name for an IPv4 or IPv6 host over https", () => {
    const encoder = createRequestEncoder();
    expect(encoder.targetOf("https://10.0.0.5/v1").serverName).toBeNull();
    const v6 = encoder.targetOf("https://[::1]:8443/v1");
    expect(v6).toMatchObject({ hostname: "::1", port: 8443, tls: true, serverName: null, originKey: "https://[::1]:8443" });
    expect(v6.prefix).toBe("POST /v1 HTTP/1.1\r\nhost: [::1]:8443\r\n");
  });

  it("keeps one pool per origin: paths differ, the origin key does not", () => {
    const encoder = createRequestEncoder();
    const chat = encoder.targetOf("https://east.openai.azure.com/a");
    const embeddings = encoder.targetOf("https://east.openai.azure.com:443/b?x=1");
    expect(chat.originKey).toBe(embeddings.originKey);
    expect(encoder.targetOf("http://east.openai.azure.com/a").originKey).not.toBe(chat.originKey);
  });

  it("parses each URL once: the same target object comes back", () => {
    const encoder = createRequestEncoder();
    const first = encoder.targetOf(URL_WITH_QUERY);
    expect(encoder.targetOf(URL_WITH_QUERY)).toBe(first);
    expect(encoder.targetOf(`${URL_WITH_QUERY}&x=1`)).not.toBe(first);
    // Each encoder has its own cache.
    expect(createRequestEncoder().targetOf(URL_WITH_QUERY)).not.toBe(first);
  });

  it("rejects a URL that is not http or https", () => {
    const encoder = createRequestEncoder();
    expect(() => encoder.targetOf("ftp://example.com/file")).toThrow(TypeError);
    expect(() => encoder.targetOf("not a url")).toThrow();
  });
});

describe("request encoder bytes", () => {
  it("writes the request line, host, headers, accept-encoding, content-length and a string body exactly", () => {
    const encoder = createRequestEncoder();
    const bytes = encoder.encode(encoder.targetOf(URL_WITH_QUERY), {
      headers: { "api-key": "secret", "content-type": "application/json" },
      body: BODY,
    });
    expect(latin1(bytes)).toBe(
      PREFIX + "api-key: secret\r\n" + "content-type: application/json\r\n" + "accept-encoding: identity\r\n" + `content-length: ${BODY.length}\r\n` + "\r\n" + BODY,
    );
  });

  it("writes a Uint8Array body byte for byte, whatever bytes it holds", () => {
    const encoder = createRequestEncoder();
    const body = Uint8Array.of(0x00, 0xff, 0x0d, 0x0a, 0x80, 0x7f);
    const bytes = encoder.encode(encoder.targetOf(URL_WITH_QUERY), { headers: { authorization: "Bearer t" }, body });
    const head = PREFIX + "authorization: Bearer t\r\naccept-encoding: identity\r\ncontent-length: 6\r\n\r\n";
    expect(bytes.byteLength).toBe(head.length + 6);
    expect(latin1(bytes.subarray(0, head.length))).toBe(head);
    expect(Array.from(bytes.subarray(head.length))).toEqual(Array.from(body));
  });

  it("counts a multi-byte UTF-8 string body in bytes, not characters", () => {
    const encoder = createRequestEncoder();
    const text = '{"content":"héllo — 日本 😀"}';
    const bytes = encoder.encode(encoder.targetOf(URL_WITH_QUERY), { headers: {}, body: text });
    const byteLength = Buffer.byteLength(text);
    expect(byteLength).toBeGreaterThan(text.length);
    expect(linesOf(bytes)).toContain(`content-length: ${byteLength}`);
    const bodyStart = bytes.byteLength - byteLength;
    expect(latin1(bytes.subarray(bodyStart - 4, bodyStart))).toBe("\r\n\r\n");
    expect(new TextDecoder().decode(bytes.subarray(bodyStart))).toBe(text);
  });

  it("writes an empty body with content-length 0", () => {
    const encoder = createRequestEncoder();
    const bytes = encoder.encode(encoder.targetOf(URL_WITH_QUERY), { headers: {}, body: "" });
    expect(latin1(bytes)).toBe(PREFIX + "accept-encoding: identity\r\ncontent-length: 0\r\n\r\n");
  });

  it("keeps an accept-encoding the caller gave instead of adding identity, whatever its case", () => {
    const encoder = createRequestEncoder();
    const target = encoder.targetOf(URL_WITH_QUERY);
    for (const name of ["accept-encoding", "Accept-Encoding"]) {
      const lines = linesOf(encoder.encode(target, { headers: { [name]: "gzip" }, body: "" }));
      expect(lines.filter((line) => line.toLowerCase().startsWith("accept-encoding:"))).toEqual([`${name}: gzip`]);
    }
  });

  it("drops host, content-length, connection and transfer-encoding the caller passed, in any case", () => {
    const encoder = createRequestEncoder();
    const bytes = encoder.encode(encoder.targetOf(URL_WITH_QUERY), {
      headers: {
        Host: "evil.example",
        "content-length": "999",
        Connection: "close",
        "Transfer-Encoding": "chunked",
        "api-key": "k",
      },
      body: "abc",
    });
    expect(latin1(bytes)).toBe(PREFIX + "api-key: k\r\naccept-encoding: identity\r\ncontent-length: 3\r\n\r\nabc");
  });

  it("throws on a header value or name holding CR, LF or NUL", () => {
    const encoder = createRequestEncoder();
    const target = encoder.targetOf(URL_WITH_QUERY);
    for (const value of ["key\r\nx-injected: 1", "key\rmore", "key\nmore", "key\0"]) {
      expect(() => encoder.encode(target, { headers: { "api-key": value }, body: "" })).toThrow(TypeError);
    }
    expect(() => encoder.encode(target, { headers: { "x-a\r\nx-b": "v" }, body: "" })).toThrow(TypeError);
    // Checked even for headers that would be dropped.
    expect(() => encoder.encode(target, { headers: { host: "a\r\nb" }, body: "" })).toThrow(TypeError);
  });

  it("reuses a frozen headers object's block: encoding twice gives identical bytes", () => {
    const encoder = createRequestEncoder();
    const target = encoder.targetOf(URL_WITH_QUERY);
    const headers = Object.freeze({ "api-key": "k", "content-type": "application/json" });
    const first = latin1(encoder.encode(target, { headers, body: BODY }));
    const second = latin1(encoder.encode(target, { headers, body: "{}" }));
    expect(second).toBe(first.slice(0, first.indexOf("content-length:")) + "content-length: 2\r\n\r\n{}");
    expect(latin1(encoder.encode(target, { headers, body: BODY }))).toBe(first);
  });

  it("builds a frozen headers object's block once, and a mutable object's on every call", () => {
    const encoder = createRequestEncoder();
    const target = encoder.targetOf(URL_WITH_QUERY);
    let reads = 0;
    // A getter shows whether the headers were walked again.
    const frozen: Readonly<Record<string, string>> = Object.freeze({
      get "x-read"() {
        return String(++reads);
      },
    });
    expect(linesOf(encoder.encode(target, { headers: frozen, body: "" }))).toContain("x-read: 1");
    expect(linesOf(encoder.encode(target, { headers: frozen, body: "" }))).toContain("x-read: 1");
    expect(reads).toBe(1);

    const mutable: Record<string, string> = { "api-key": "old" };
    expect(linesOf(encoder.encode(target, { headers: mutable, body: "" }))).toContain("api-key: old");
    mutable["api-key"] = "new";
    expect(linesOf(encoder.encode(target, { headers: mutable, body: "" }))).toContain("api-key: new");
  });
});
