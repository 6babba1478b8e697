import { describe, expect, it } from "bun:test";
import { classifyUpstreamStatus, pickRelayedHeaders, readRetryAfterMs, sanitizeUpstreamText } from "../../server/providers/azure/response.ts";
import { toUpstreamBody, toUpstreamHeaders, withIncludeUsage } from "../../server/providers/azure/request.ts";
import { supportsStreamUsage, toUpstreamUrl } from "../../server/providers/azure/url.ts";
import { parseProxyRequest } from "../../server/proxy/read-request.ts";
import { buildTargetTable } from "../../server/routing/targets.ts";
import { buildConfig } from "../_support/proxy.ts";
import { encodingForModel } from "../../server/tokens/count.ts";

const base = { api_base: "https://res.openai.azure.com/", provider_type: "azure" as const };

describe("toUpstreamUrl", () => {
  it("builds the classic deployment path with the instance's api-version", () => {
    expect(toUpstreamUrl({ ...base, api_version: "2024-10-21" }, "chat/completions", "gpt-4o-dep")).toBe(
      "https://res.openai.azure.com/openai/deployments/gpt-4o-dep/chat/completions?api-version=2024-10-21",
    );
  });

  it("builds Azure's v1 form and an OpenAI-compatible /v1 path", () => {
    expect(toUpstreamUrl({ ...base, api_version: "v1" }, "embeddings", "d")).toBe("https://res.openai.azure.com/openai/v1/embeddings");
    expect(toUpstreamUrl({ ...base, provider_type: "openai", api_version: "v1" }, "completions", "d")).toBe(
      "https://res.openai.azure.com/v1/completions",
    );
  });

  it("encodes a deployment name so it cannot change the path", () => {
    expect(toUpstreamUrl({ ...base, api_version: "2024-10-21" }, "embeddings", "../x?y#z")).toContain("/deployments/..%2Fx%3Fy%23z/");
  });

  it("knows which api-versions accept stream_options", () => {
    expect(supportsStreamUsage({ provider_type: "azure", api_version: "2024-06-01" })).toBe(false);
    expect(supportsStreamUsage({ provider_type: "azure", api_version: "2024-09-01-preview" })).toBe(true);
    expect(supportsStreamUsage({ provider_type: "azure", api_version: "2024-10-21" })).toBe(true);
    expect(supportsStreamUsage({ provider_type: "azure", api_version: "v1" })).toBe(true);
  });
});

describe("classifyUpstreamStatus", () => {
  it("sorts statuses into outcomes", () => {
    expect([200, 429, 500, 503, 408, 401, 403, 404, 302, 400, 422].map((status) => classifyUpstreamStatus(status))).toEqual([
      "success",
      "throttled",
      "server_error",
      "server_error",
      "server_error",
      "instance_error",
      "instance_error",
      "instance_error",
      "instance_error",
      "caller_error",
      "caller_error",
    ]);
  });

  it("treats the v1 form's missing-deployment 400 as the instance's fault", () => {
    expect(classifyUpstreamStatus(400, '{"error":{"message":"Could not find an existing deployment to match the model"}}')).toBe(
      "instance_error",
    );
  });
});

describe("readRetryAfterMs", () => {
  it("prefers retry-after-ms, then x-ms-retry-after-ms, then retry-after seconds", () => {
    expect(readRetryAfterMs(new Headers({ "retry-after": "3", "retry-after-ms": "1500", "x-ms-retry-after-ms": "2000" }))).toBe(1500);
    expect(readRetryAfterMs(new Headers({ "retry-after": "3", "x-ms-retry-after-ms": "2000" }))).toBe(2000);
    expect(readRetryAfterMs(new Headers({ "retry-after": "3" }))).toBe(3000);
    expect(readRetryAfterMs(new Headers({ "retry-after": "soon" }))).toBeUndefined();
  });
});

describe("relayed headers and sanitising", () => {
  it("relays Azure's useful headers and renames its request id", () => {
    const upstream = new Headers({
      "apim-request-id": "a1",
      "x-request-id": "u1",
      "x-ms-region": "East US",
      "x-ratelimit-remaining-tokens": "999",
      "set-cookie": "s=1",
      connection: "keep-alive",
    });
    expect(pickRelayedHeaders(upstream, { "x-request-id": "ours" })).toEqual({
      "x-request-id": "ours",
      "apim-request-id": "a1",
      "x-ms-region": "East US",
      "x-ratelimit-remaining-tokens": "999",
      "x-upstream-request-id": "u1",
    });
  });

  it("never lets a relayed header replace the proxy's own rate-limit header for the client key", () => {
    const upstream = new Headers({ "x-ratelimit-remaining-tokens": "999", "x-ratelimit-remaining-requests": "99" });
    expect(pickRelayedHeaders(upstream, { "x-ratelimit-remaining-tokens": "10" })).toEqual({
      "x-ratelimit-remaining-tokens": "10",
      "x-ratelimit-remaining-requests": "99",
    });
  });

  it("removes the instance key and host from a relayed body", () => {
    expect(sanitizeUpstreamText("key sk-123456 at res.openai.azure.com", ["sk-123456", "res.openai.azure.com"])).toBe(
      "key [redacted] at [redacted]",
    );
  });
});

const config = buildConfig({
  instances: [
    { name: "a", api_key: "ka", api_base: "http://a.test", supported_models: ["gpt-4o", "e"], model_deployments: { "gpt-4o": "dep-a" }, priority: 2 },
    { name: "b", api_key: "kb", api_base: "http://b.test", supported_models: ["gpt-4o"], priority: 1, api_version: "v1" },
    { name: "c", api_key: "kc", api_base: "http://c.test", supported_models: ["gpt-4o"], priority: 1, weight: 5 },
    { name: "off", api_key: "ko", api_base: "http://off.test", supported_models: ["gpt-4o"], enabled: false },
  ],
});
const table = buildTargetTable(config);
const targetsFor = (model: string) => table.byModel.get(model) ?? [];

describe("buildTargetTable", () => {
  it("lists enabled instances per model and maps deployments back to models", () => {
    expect(targetsFor("gpt-4o").map((t) => t.instance.name)).toEqual(["a", "b", "c"]);
    expect(table.modelOfDeployment.get("dep-a")).toBe("gpt-4o");
    expect(table.models).toEqual(["e", "gpt-4o"]);
  });

  it("sends the deployment in the body only where the upstream wants it", () => {
    const request = parseProxyRequest("chat/completions", new TextEncoder().encode('{"model":"gpt-4o","messages":[]}'));
    const [a, b] = targetsFor("gpt-4o");
    expect(toUpstreamBody(request, a!).body).toBe(request.bytes);
    expect(toUpstreamBody(request, b!).body).toBe(request.bytes);
    const aliased = parseProxyRequest("chat/completions", new TextEncoder().encode('{"model":"gpt-4o","messages":[]}'));
    const v1WithMapping = buildTargetTable(
      buildConfig({
        instances: [{ name: "v", api_key: "kv", api_base: "http://v.test", api_version: "v1", supported_models: ["gpt-4o"], model_deployments: { "gpt-4o": "prod-4o" } }],
      }),
    ).byModel.get("gpt-4o")![0]!;
    expect(JSON.parse(toUpstreamBody(aliased, v1WithMapping).body as string).model).toBe("prod-4o");
    expect(toUpstreamHeaders(a!.authHeader, false)).toEqual({ "content-type": "application/json", accept: "application/json", "api-key": "ka" });
    expect(toUpstreamHeaders(b!.authHeader, true)).toEqual({ "content-type": "application/json", accept: "text/event-stream", authorization: "Bearer kb" });
  });

  it("asks for usage on streams for our accounting, keeping the client's other stream options", () => {
    const request = parseProxyRequest(
      "chat/completions",
      new TextEncoder().encode('{"model":"gpt-4o","messages":[],"stream":true,"stream_options":{"x":1}}'),
    );
    const upstream = toUpstreamBody(request, targetsFor("gpt-4o")[0]!);
    expect(upstream.usageInjected).toBe(true);
    expect(JSON.parse(upstream.body as string).stream_options).toEqual({ x: 1, include_usage: true });
  });

  it("adds include_usage to a body without stream options by splicing its bytes, which stay valid JSON", () => {
    const text = '{"model":"gpt-4o","messages":[{"role":"user","content":"}"}],"stream":true,"tools":[{"x":{}}]}\n ';
    const request = parseProxyRequest("chat/completions", new TextEncoder().encode(text));
    const upstream = toUpstreamBody(request, targetsFor("gpt-4o")[0]!);
    expect(upstream.usageInjected).toBe(true);
    const body = upstream.body as Uint8Array;
    expect(body).toBeInstanceOf(Uint8Array);
    expect(JSON.parse(new TextDecoder().decode(body))).toEqual({ ...JSON.parse(text), stream_options: { include_usage: true } });
  });

  it("splices include_usage only into bytes that end as a JSON object", () => {
    expect(withIncludeUsage(new TextEncoder().encode('{"stream":true}\t\r\n'))).toEqual(
      new TextEncoder().encode('{"stream":true,"stream_options":{"include_usage":true}}'),
    );
    expect(withIncludeUsage(new TextEncoder().encode("[1]"))).toBeNull();
    expect(withIncludeUsage(new TextEncoder().encode("  "))).toBeNull();
  });
});

describe("encodingForModel", () => {
  it("picks the encoding by model family", () => {
    expect(["gpt-4o-mini", "gpt-4.1", "o3-mini", "gpt-4", "gpt-35-turbo", "text-embedding-3-small"].map(encodingForModel)).toEqual([
      "o200k_base",
      "o200k_base",
      "o200k_base",
      "cl100k_base",
      "cl100k_base",
      "cl100k_base",
    ]);
  });
});
