// How the simulator and the fake read upstream addresses and admit requests, Azure's way.
import { describe, expect, it } from "bun:test";
import {
  accessDeniedBody,
  deploymentNotFoundBody,
  deploymentNotMatchedBody,
  invalidApiKeyBody,
  missingApiVersionBody,
} from "../../server/simulator/azure-error-bodies.ts";
import { matchAzureRoute, splitRequestUrl } from "../../server/simulator/azure-route.ts";
import { admitSimulatedRequest, type AdmissionPolicy } from "../../server/simulator/simulated-request.ts";

const route = (method: string, url: string) => {
  const { pathname, query } = splitRequestUrl(url);
  return matchAzureRoute(method, pathname, query);
};
const policy: AdmissionPolicy = { apiKey: "k", deployments: ["gpt-4o"] };
const chatBody = JSON.stringify({ messages: [{ role: "user", content: "Hello there" }] });

describe("upstream addresses", () => {
  it("reads the deployment and api-version from Azure's classic path", () => {
    expect(route("POST", "http://h:1/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21")).toEqual({
      operation: "chat",
      form: "deployment",
      deployment: "gpt-4o",
      apiVersion: "2024-10-21",
    });
    expect(route("POST", "http://h:1/openai/deployments/my%20dep/embeddings?api-version=x")?.deployment).toBe("my dep");
  });

  it("recognises the v1 form, the plain OpenAI form and the models probe", () => {
    expect(route("POST", "http://h/openai/v1/completions")).toEqual({ operation: "completions", form: "v1" });
    expect(route("POST", "http://h/v1/embeddings")).toEqual({ operation: "embeddings", form: "openai" });
    expect(route("GET", "http://h/openai/models?api-version=2024-10-21")).toEqual({ operation: "models", form: "deployment", apiVersion: "2024-10-21" });
  });

  it("matches nothing for unknown operations or the wrong method", () => {
    expect(route("POST", "http://h/openai/deployments/d/images/generations?api-version=x")).toBeUndefined();
    expect(route("GET", "http://h/openai/deployments/d/chat/completions?api-version=x")).toBeUndefined();
    expect(route("POST", "http://h/openai/deployments//chat/completions")).toBeUndefined();
  });
});

describe("admission", () => {
  const classic = route("POST", "http://h/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21")!;

  it("accepts the api-key header or a Bearer token, and refuses anything else with Azure's 401", () => {
    expect(admitSimulatedRequest(classic, new Headers({ "api-key": "k" }), chatBody, policy).ok).toBe(true);
    expect(admitSimulatedRequest(classic, new Headers({ authorization: "Bearer k" }), chatBody, policy).ok).toBe(true);
    expect(admitSimulatedRequest(classic, new Headers({ "api-key": "nope" }), chatBody, policy)).toEqual({ ok: false, status: 401, body: accessDeniedBody() });
    const openai = route("POST", "http://h/v1/chat/completions")!;
    expect(admitSimulatedRequest(openai, new Headers({ "api-key": "k" }), chatBody, policy)).toEqual({ ok: false, status: 401, body: invalidApiKeyBody() });
  });

  it("requires api-version on the classic form", () => {
    const unversioned = route("POST", "http://h/openai/deployments/gpt-4o/chat/completions")!;
    expect(admitSimulatedRequest(unversioned, new Headers({ "api-key": "k" }), chatBody, policy)).toEqual({ ok: false, status: 400, body: missingApiVersionBody() });
  });

  it("answers 404 for an unknown deployment in the path but 400 for one named in a v1 body", () => {
    const unknown = route("POST", "http://h/openai/deployments/gpt-9/chat/completions?api-version=2024-10-21")!;
    expect(admitSimulatedRequest(unknown, new Headers({ "api-key": "k" }), chatBody, policy)).toEqual({ ok: false, status: 404, body: deploymentNotFoundBody() });
    const v1 = route("POST", "http://h/openai/v1/chat/completions")!;
    const body = JSON.stringify({ model: "gpt-9", messages: [] });
    expect(admitSimulatedRequest(v1, new Headers({ "api-key": "k" }), body, policy)).toEqual({ ok: false, status: 400, body: deploymentNotMatchedBody() });
  });

  it("rejects stream_options on api-versions older than 2024-09-01-preview", () => {
    const old = route("POST", "http://h/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01")!;
    const body = JSON.stringify({ messages: [], stream: true, stream_options: { include_usage: true } });
    const admission = admitSimulatedRequest(old, new Headers({ "api-key": "k" }), body, policy);
    expect(admission).toMatchObject({ ok: false, status: 400, body: { error: { param: "stream_options" } } });
    expect(admitSimulatedRequest(classic, new Headers({ "api-key": "k" }), body, policy)).toMatchObject({ ok: true, request: { includeUsage: true } });
  });

  it("reads the fields that shape the answer", () => {
    const body = JSON.stringify({ messages: [{ role: "user", content: [{ type: "text", text: "x".repeat(40) }] }], stream: true, max_completion_tokens: 5 });
    const admission = admitSimulatedRequest(classic, new Headers({ "api-key": "k" }), body, policy);
    // 10 tokens of text, 3 for the message, 3 to prime the reply.
    expect(admission).toMatchObject({ ok: true, deployment: "gpt-4o", request: { stream: true, includeUsage: false, maxTokens: 5, promptTokens: 16 } });
  });
});
