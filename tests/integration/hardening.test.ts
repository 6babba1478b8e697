// Hostile or broken clients and upstreams: size and header limits, pathological JSON, slow clients, URL injection,
// relayed headers and internal errors, each over real HTTP.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { countTextTokens } from "../../server/tokens/count.ts";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

// bunfig.toml has no per-test timeout setting: child processes and servers on a busy 2-core machine need more than 5 s.
setDefaultTimeout(20_000);

const chat = { model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] };
const encoder = new TextEncoder();

/** Writes raw bytes on a fresh TCP connection and collects everything until the server closes it. */
async function rawExchange(port: number, write: (socket: { write(data: string): void }) => Promise<void> | void, timeoutMs = 20_000) {
  return new Promise<{ text: string; closed: boolean }>((resolve) => {
    let text = "";
    const timer = setTimeout(() => resolve({ text, closed: false }), timeoutMs);
    void Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(socket) {
          void write({ write: (data) => void socket.write(data) });
        },
        data(_socket, data) {
          text += new TextDecoder().decode(data);
        },
        close() {
          clearTimeout(timer);
          resolve({ text, closed: true });
        },
        error() {},
      },
    });
  });
}

describe("request limits", () => {
  it("answers 413 to an endless chunked body without waiting for its end", async () => {
    await using fake = await startFakeAzure();
    await using proxy = await startProxy({ config: { limits: { max_body_bytes: 64 * 1024 }, instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]) } });
    const chunk = encoder.encode(" ".repeat(16 * 1024));
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body: endless });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("request_too_large");
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    expect(fake.requests).toHaveLength(0);
  });

  it("answers 431 to request headers over 16 KB", async () => {
    await using fake = await startFakeAzure();
    await using proxy = await startProxy({ config: { instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]) } });
    const head = (bytes: number) =>
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Filler: ${"a".repeat(bytes)}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`;
    const big = await rawExchange(proxy.port, (socket) => socket.write(head(17 * 1024)));
    expect(big.text.split("\r\n")[0]).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    // Just under the limit is still read (and refused for its body, not its headers).
    const fits = await rawExchange(proxy.port, (socket) => socket.write(head(15 * 1024)));
    expect(fits.text.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
    expect(fake.requests).toHaveLength(0);
  });
});

describe("pathological JSON within the size limit", () => {
  const answer = {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 0,
    model: "gpt-4o",
    choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
  const tenMegabytes = 10 * 1024 * 1024;
  const cases: Record<string, { path: string; body: string; status: number }> = {
    "arrays nested 4 million deep": {
      path: "/v1/chat/completions",
      body: `{"model":"gpt-4o","messages":[],"x":${"[".repeat(4_000_000)}${"]".repeat(4_000_000)}}`,
      status: 400,
    },
    "objects nested a million deep": {
      path: "/v1/chat/completions",
      body: `{"model":"gpt-4o","messages":[],"x":${'{"a":'.repeat(1_000_000)}1${"}".repeat(1_000_000)}}`,
      status: 400,
    },
    "a streamed request nested 200 deep": {
      path: "/v1/chat/completions",
      body: `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":${"[".repeat(200)}${"]".repeat(200)}}]}`,
      status: 400,
    },
    "300,000 messages": {
      path: "/v1/chat/completions",
      body: JSON.stringify({ ...chat, messages: Array.from({ length: 300_000 }, () => ({ role: "user", content: "x" })) }),
      status: 200,
    },
    "300,000 content parts": {
      path: "/v1/chat/completions",
      body: JSON.stringify({ ...chat, messages: [{ role: "user", content: Array.from({ length: 300_000 }, () => ({ type: "text", text: "x" })) }] }),
      status: 200,
    },
    "2 million numbers": {
      path: "/v1/chat/completions",
      body: JSON.stringify({ ...chat, logit_bias: Array.from({ length: 2_000_000 }, () => 1) }),
      status: 200,
    },
    "a prompt of 2 million token ids": {
      path: "/v1/completions",
      body: JSON.stringify({ model: "gpt-4o", prompt: Array.from({ length: 2_000_000 }, () => 1) }),
      status: 200,
    },
    "a million embedding inputs": {
      path: "/v1/embeddings",
      body: JSON.stringify({ model: "gpt-4o", input: Array.from({ length: 1_000_000 }, () => "ab") }),
      status: 200,
    },
    "one 9 MB string": {
      path: "/v1/chat/completions",
      body: JSON.stringify({ ...chat, messages: [{ role: "user", content: "word ".repeat(1_800_000) }] }),
      status: 200,
    },
  };

  for (const limited of [false, true]) {
    it(`answers each within a second${limited ? ", also when a TPM limit makes the proxy count tokens exactly" : ""}`, async () => {
      // The upstream answers without reading the body, so the time measured is the proxy's own.
      await using proxy = await startProxy({
        fetch: async () => Response.json(answer),
        config: {
          limits: { max_body_bytes: tenMegabytes },
          instances: azureInstances([{ url: "http://127.0.0.1:9", apiKey: "k", ...(limited ? { max_tpm: 12_000_000 } : {}) }]),
        },
      });
      // The first exact count loads the tokenizer's tables (a one-time cost at start, not the body's): load them now.
      await countTextTokens("warm up", "gpt-4o");
      for (const [name, { path, body, status }] of Object.entries(cases)) {
        expect(body.length).toBeLessThan(tenMegabytes);
        const startedAt = performance.now();
        const response = await fetch(`${proxy.url}${path}`, { method: "POST", body });
        await response.arrayBuffer();
        const elapsedMs = performance.now() - startedAt;
        expect({ name, status: response.status }).toEqual({ name, status });
        expect({ name, fast: elapsedMs < 1000 }).toEqual({ name, fast: true });
      }
    }, 60_000);
  }
});

describe("slow clients", () => {
  it("cannot hold a connection by trickling headers or a body", async () => {
    await using fake = await startFakeAzure();
    await using proxy = await startProxy({ config: { limits: { client_idle_timeout: 1 }, instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]) } });
    const trickle = (head: string, byte: string) =>
      rawExchange(proxy.port, async (socket) => {
        socket.write(head);
        // One byte every 200 ms keeps the connection from ever being idle; only a deadline can end it.
        for (let i = 0; i < 150; i++) {
          await Bun.sleep(200);
          socket.write(byte);
        }
      });
    const [headers, body] = await Promise.all([
      trickle("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ", "a"),
      trickle("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{", " "),
    ]);
    expect(headers.closed).toBe(true);
    expect(body.closed).toBe(true);
    expect(fake.requests).toHaveLength(0);
    // The body that stopped short is the client's failure, recorded as such, not an internal error.
    await until(() => proxy.records.length === 1);
    expect(proxy.records[0]).toMatchObject({ status: 408, errorCode: "request_timeout" });
    expect(proxy.logLines.filter((line) => line.includes('"level":"error"'))).toEqual([]);
  }, 30_000);
});

/** The kernel's state of the proxy's side of a loopback connection ("01" established), or null once it is gone. */
function serverSideTcpState(serverPort: number, clientPort: number): string | null {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, "0");
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const [, local, remote, state] = line.trim().split(/\s+/);
    if (local?.endsWith(`:${hex(serverPort)}`) && remote?.endsWith(`:${hex(clientPort)}`)) return state ?? null;
  }
  return null;
}

/** Sends a request on a raw socket, stops reading after the first bytes, and resumes once the proxy has let go of it. */
async function readStalled(port: number, body: string, hasLetGo: (clientPort: number) => boolean | Promise<boolean>) {
  let received = 0;
  let tail = "";
  let stalled = true;
  await new Promise<void>((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      void until(() => hasLetGo(socket.localPort!), { timeoutMs: 15_000 }).then(() => {
        stalled = false;
        socket.resume();
      });
    });
    socket.on("data", (data) => {
      received += data.length;
      tail = (tail + data.toString("latin1")).slice(-1000);
      if (stalled) socket.pause();
    });
    socket.on("close", () => resolve());
  });
  return { received, tail };
}

// 20 MB of frames: more than the socket buffers between the proxy and a client that reads nothing.
const HUGE_ANSWER = Array.from({ length: 200 }, () => "x".repeat(100_000)).join(" ");

describe("slow readers", () => {
  it("lose a non-streamed answer they do not read within limits.client_idle_timeout", async () => {
    await using fake = await startFakeAzure({ content: HUGE_ANSWER });
    await using proxy = await startProxy({ config: { limits: { client_idle_timeout: 1 }, instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]) } });
    const { received, tail } = await readStalled(proxy.port, JSON.stringify(chat), (clientPort) => serverSideTcpState(proxy.port, clientPort) !== "01");
    expect(received).toBeLessThan(HUGE_ANSWER.length);
    expect(tail.endsWith("0\r\n\r\n")).toBe(false);
    expect(proxy.records.map((record) => record.status)).toEqual([200]);
  });

  it("lose a stream they stop reading for routing.stream_idle_timeout: the connection is closed and the request settles", async () => {
    await using fake = await startFakeAzure({ content: HUGE_ANSWER });
    await using proxy = await startProxy({ config: { routing: { stream_idle_timeout: 1 }, instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]) } });
    const { tail } = await readStalled(proxy.port, JSON.stringify({ ...chat, stream: true }), () => proxy.records.length === 1);
    expect(proxy.records.map((record) => [record.status, record.errorCode, record.clientAborted])).toEqual([[499, "client_stalled", true]]);
    expect(tail).not.toContain("[DONE]");
  });
});

describe("upstream addresses", () => {
  it("come only from the configuration, whatever the request's body, headers or path say", async () => {
    await using fake = await startFakeAzure();
    await using elsewhere = await startFakeAzure();
    await using proxy = await startProxy({ config: { instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]) } });
    const target = elsewhere.url;
    const response = await fetch(`${proxy.url}/v1/chat/completions?api_base=${encodeURIComponent(target)}`, {
      method: "POST",
      headers: {
        "x-forwarded-host": new URL(target).host,
        "x-forwarded-proto": "http",
        "x-original-url": target,
        "x-ms-azure-endpoint": target,
        forwarded: `host=${new URL(target).host}`,
      },
      body: JSON.stringify({ ...chat, api_base: target, base_url: target, endpoint: target, azure_endpoint: target, url: target }),
    });
    expect(response.status).toBe(200);
    const azureStyle = await fetch(`${proxy.url}/openai/deployments/${encodeURIComponent(target)}/chat/completions?api-version=2024-10-21`, {
      method: "POST",
      body: JSON.stringify(chat),
    });
    expect(azureStyle.status).toBe(404);
    expect(fake.requests.map((request) => request.path)).toEqual(["/openai/deployments/gpt-4o/chat/completions"]);
    expect(fake.requests[0]!.query).toEqual({ "api-version": "2024-10-21" });
    expect(Object.keys(fake.requests[0]!.headers).filter((name) => name.startsWith("x-") || name === "forwarded")).toEqual([]);
    expect(elsewhere.requests).toHaveLength(0);
  });
});

describe("upstream response headers", () => {
  const unwanted = {
    "set-cookie": "session=abc; Path=/",
    "keep-alive": "timeout=5",
    "proxy-authenticate": "Basic",
    "proxy-connection": "keep-alive",
    upgrade: "h2c",
    trailer: "x-checksum",
    "x-ms-internal-thing": "1",
  };

  it("relays neither cookies nor hop-by-hop headers, for answers, streams and passed-through errors", async () => {
    await using fake = await startFakeAzure();
    await using proxy = await startProxy({ config: { instances: azureInstances([{ url: fake.url, apiKey: fake.apiKey }]) } });
    fake.enqueue(
      { kind: "ok", headers: unwanted },
      { kind: "ok", headers: unwanted },
      { kind: "status", status: 400, headers: unwanted, body: { error: { code: "content_filter", message: "filtered" } } },
    );
    const responses = [];
    for (const body of [chat, { ...chat, stream: true }, chat]) {
      const response = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify(body) });
      await response.text();
      responses.push(response);
    }
    expect(responses.map((response) => response.status)).toEqual([200, 200, 400]);
    for (const response of responses) {
      expect(Object.keys(unwanted).filter((name) => response.headers.has(name))).toEqual([]);
      expect(response.headers.get("x-ms-region")).toBe("East US");
    }
  });
});

describe("internal errors", () => {
  it("answer 500 with a generic message and the request id, never a stack or a path; the log has the details", async () => {
    // An upstream answer that is not a Response at all makes the proxy itself fail.
    const broken = (async () => ({ status: 200, headers: null })) as unknown as (url: string, init: RequestInit) => Promise<Response>;
    await using proxy = await startProxy({ fetch: broken, config: { instances: azureInstances([{ url: "http://127.0.0.1:9", apiKey: "k" }]) } });
    const response = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify(chat) });
    expect(response.status).toBe(500);
    const requestId = response.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      error: { message: "The proxy failed to handle this request.", type: "server_error", param: null, code: "internal_error" },
    });
    expect(text).not.toMatch(/\.ts\b|\/work|\bat\s|TypeError/);
    const logged = proxy.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === "request failed inside the proxy");
    expect(logged).toMatchObject({ level: "error", requestId, error: { name: "TypeError" } });
  });

  it("answer OpenAI's 500 with the security headers when a failure escapes the proxy's handler, on Bun's route and on Elysia's", async () => {
    // The proxy reads the clock before anything else a request does: a clock that throws fails outside handle's own catch.
    let clockBroken = false;
    const now = () => {
      if (clockBroken) throw new Error("clock broke");
      return Date.now();
    };
    await using proxy = await startProxy({ now, config: { instances: azureInstances([{ url: "http://127.0.0.1:9", apiKey: "k" }]) } });
    clockBroken = true;
    // The exact path is Bun's own route; a trailing slash reaches the same handler through Elysia.
    for (const path of ["/v1/chat/completions", "/v1/chat/completions/"]) {
      const response = await fetch(`${proxy.url}${path}`, { method: "POST", body: JSON.stringify(chat) });
      const body = (await response.json()) as { error: { code: string } };
      expect({ path, status: response.status, code: body.error.code, nosniff: response.headers.get("x-content-type-options"), cache: response.headers.get("cache-control") }).toEqual({
        path,
        status: 500,
        code: "internal_error",
        nosniff: "nosniff",
        cache: "no-store",
      });
      expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    }
    clockBroken = false;
    const logged = proxy.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === "unhandled error");
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatchObject({ level: "error", path: "/v1/chat/completions", error: { message: "clock broke" } });
  });
});
