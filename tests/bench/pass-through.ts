// The runtime's own limit: the least a Bun.serve + fetch proxy can do, forwarding bytes to UPSTREAM_URL and nothing else.
const upstream = process.env.UPSTREAM_URL ?? "";
/** Bun sends a post-await body over ~16 KB in two writes; a direct stream sends it in one (PERF-NOTES). */
const ONE_WRITE_BYTES = 16 * 1024;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    // Slicing after "http://host" avoids a URL parse per request.
    const pathAndQuery = request.url.slice(request.url.indexOf("/", 8));
    const headers: Record<string, string> = { "content-type": request.headers.get("content-type") ?? "application/json" };
    const apiKey = request.headers.get("api-key");
    if (apiKey !== null) headers["api-key"] = apiKey;
    const answer = await fetch(upstream + pathAndQuery, { method: request.method, headers, body: await request.arrayBuffer() });
    const init = { status: answer.status, headers: { "content-type": answer.headers.get("content-type") ?? "application/json" } };
    if (init.headers["content-type"].startsWith("text/event-stream")) return new Response(answer.body, init);
    const bytes = await answer.bytes();
    if (bytes.byteLength <= ONE_WRITE_BYTES) return new Response(bytes, init);
    const body = new ReadableStream<Uint8Array>({
      type: "direct",
      pull(controller) {
        controller.write(bytes);
        controller.close();
      },
    });
    return new Response(body, init);
  },
});

console.log(JSON.stringify({ msg: "listening", url: `http://127.0.0.1:${server.port}` }));
