// The dashboard as the proxy serves it from source: redirect, page, hashed assets, CSP, no inline code, size budget, errors.
import { describe, expect, it } from "bun:test";
import { DASHBOARD_CSP } from "../../server/http/security-headers.ts";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, startProxy, type TestProxyOptions } from "../_support/proxy.ts";

/** The dashboard's JavaScript budget from the issue: under 150 KB gzipped. */
const JS_BUDGET_GZIP_BYTES = 150 * 1024;

function assetPaths(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="(\/dashboard\/[^"]+)"/g)].map((match) => match[1]!);
}

async function proxyWithFleet(options: Partial<TestProxyOptions> = {}) {
  const azure = await startFakeAzure();
  const proxy = await startProxy({ config: { instances: azureInstances([{ url: azure.url, apiKey: azure.apiKey }]) }, ...options });
  return {
    proxy,
    async [Symbol.asyncDispose]() {
      await proxy[Symbol.asyncDispose]();
      await azure[Symbol.asyncDispose]();
    },
  };
}

describe("serving the dashboard from source", () => {
  it("redirects / to /dashboard", async () => {
    await using fixture = await proxyWithFleet();
    const response = await fetch(`${fixture.proxy.url}/`, { redirect: "manual" });
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("/dashboard");
  });

  it("serves the page with a strict CSP and no inline script or style, and every asset it links", async () => {
    await using fixture = await proxyWithFleet();
    const page = await fetch(`${fixture.proxy.url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toStartWith("text/html");
    expect(page.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect(await (await fetch(`${fixture.proxy.url}/dashboard/`)).text()).toBe(html);

    const paths = assetPaths(html);
    expect(paths.filter((path) => path.endsWith(".js"))).toHaveLength(1);
    expect(paths.filter((path) => path.endsWith(".css"))).toHaveLength(1);
    for (const path of paths) {
      const asset = await fetch(`${fixture.proxy.url}${path}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get("content-type")).toStartWith(path.endsWith(".js") ? "text/javascript" : "text/css");
      expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(asset.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  });

  it("keeps the dashboard's JavaScript under 150 KB gzipped", async () => {
    await using fixture = await proxyWithFleet();
    const html = await (await fetch(`${fixture.proxy.url}/dashboard`)).text();
    let gzipped = 0;
    for (const path of assetPaths(html).filter((p) => p.endsWith(".js"))) {
      gzipped += Bun.gzipSync(new Uint8Array(await (await fetch(`${fixture.proxy.url}${path}`)).arrayBuffer())).byteLength;
    }
    expect(gzipped).toBeGreaterThan(10_000);
    expect(gzipped).toBeLessThan(JS_BUDGET_GZIP_BYTES);
  });

  it("answers an unknown dashboard file with a 404 in OpenAI's shape", async () => {
    await using fixture = await proxyWithFleet();
    const response = await fetch(`${fixture.proxy.url}/dashboard/missing.js`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { message: "Unknown dashboard file: missing.js.", type: "invalid_request_error", param: null, code: "not_found" } });
  });

  it("answers 500 without details when the dashboard cannot be built, logs why, and tries again on the next request", async () => {
    let calls = 0;
    await using fixture = await proxyWithFleet({
      loadDashboard: async () => {
        calls++;
        if (calls === 1) throw new Error("bundler exploded at /secret/path");
        return [{ path: "index.html", contentType: "text/html;charset=utf-8", body: new Blob(["<!doctype html><p>ok</p>"]) }];
      },
    });
    const failed = await fetch(`${fixture.proxy.url}/dashboard`);
    expect(failed.status).toBe(500);
    const body = await failed.text();
    expect(JSON.parse(body)).toEqual({ error: { message: "The dashboard could not be loaded.", type: "server_error", param: null, code: "internal_error" } });
    expect(body).not.toContain("secret");
    expect(fixture.proxy.logLines.some((line) => line.includes('"msg":"dashboard unavailable"') && line.includes("bundler exploded"))).toBe(true);

    const retried = await fetch(`${fixture.proxy.url}/dashboard`);
    expect(retried.status).toBe(200);
    expect(await retried.text()).toBe("<!doctype html><p>ok</p>");
    expect(calls).toBe(2);
  });
});
