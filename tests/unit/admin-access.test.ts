// The admin access rules as pure functions: who may in, constant-time token checks, throttling, sessions, CORS.
import { describe, expect, it } from "bun:test";
import {
  createAdminSessions,
  createFailureThrottle,
  decideAdminAccess,
  hasCredentialInQuery,
  isLoopback,
  presentedAdminToken,
  readCookie,
  tokensMatch,
} from "../../server/admin/access.ts";
import { isAdminPath } from "../../server/admin/auth.ts";
import { Elysia } from "elysia";
import { DASHBOARD_CSP, corsHeadersFor, pathnameOf, proxyResponseHeaders, responseHeadersFor, securityHeaders } from "../../server/http/security-headers.ts";
import { PROXY_ENDPOINTS } from "../../server/proxy/routes.ts";

describe("decideAdminAccess", () => {
  it("needs credentials whenever a token is configured, wherever the caller is", () => {
    for (const remoteAddress of ["127.0.0.1", "10.0.0.5", null]) {
      for (const environment of ["production", "development", undefined]) {
        expect(decideAdminAccess({ token: "t0ken", environment, remoteAddress })).toBe("credentials");
      }
    }
  });

  it("without a token lets loopback callers in, refuses others, and disables everything in production", () => {
    expect(decideAdminAccess({ token: "", environment: undefined, remoteAddress: "127.0.0.1" })).toBe("open");
    expect(decideAdminAccess({ token: "", environment: "staging", remoteAddress: "::1" })).toBe("open");
    expect(decideAdminAccess({ token: "", environment: undefined, remoteAddress: "::ffff:127.0.0.1" })).toBe("open");
    expect(decideAdminAccess({ token: "", environment: undefined, remoteAddress: "192.168.1.20" })).toBe("loopback_only");
    expect(decideAdminAccess({ token: "", environment: undefined, remoteAddress: "::ffff:10.1.2.3" })).toBe("loopback_only");
    expect(decideAdminAccess({ token: "", environment: undefined, remoteAddress: null })).toBe("loopback_only");
    expect(decideAdminAccess({ token: "", environment: "production", remoteAddress: "127.0.0.1" })).toBe("disabled");
  });

  it("knows loopback addresses from look-alikes", () => {
    expect(["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"].map(isLoopback)).toEqual([true, true, true, true]);
    expect(["128.0.0.1", "::2", "0.0.0.0", "127.0.0.1.example.com", "localhost"].map(isLoopback)).toEqual([false, false, false, false, false]);
  });
});

describe("admin tokens", () => {
  it("match only exactly, whatever the lengths, and never an empty configured token", () => {
    expect(tokensMatch("secret-token", "secret-token")).toBe(true);
    expect(tokensMatch("secret-token ", "secret-token")).toBe(false);
    expect(tokensMatch("secret", "secret-token")).toBe(false);
    expect(tokensMatch("", "")).toBe(false);
  });

  it("are read from Authorization: Bearer or x-admin-token", () => {
    expect(presentedAdminToken(new Headers({ authorization: "Bearer abc" }))).toBe("abc");
    expect(presentedAdminToken(new Headers({ authorization: "bearer  abc " }))).toBe("abc");
    expect(presentedAdminToken(new Headers({ "x-admin-token": "xyz" }))).toBe("xyz");
    expect(presentedAdminToken(new Headers({ authorization: "Basic abc" }))).toBeNull();
    expect(presentedAdminToken(new Headers())).toBeNull();
  });

  it("are refused in the query string", () => {
    expect(hasCredentialInQuery(new URL("http://x/admin/instances?token=a"))).toBe(true);
    expect(hasCredentialInQuery(new URL("http://x/stats/usage?access_token=a"))).toBe(true);
    expect(hasCredentialInQuery(new URL("http://x/stats/usage?metric=requests&key=team-a"))).toBe(false);
  });

  it("guard exactly the admin, stats and metrics paths", () => {
    expect(["/admin", "/admin/instances", "/stats", "/stats/usage", "/metrics", "/metrics/", "//metrics", "/stats//usage"].every(isAdminPath)).toBe(true);
    expect(["/health", "/v1/models", "/administrator", "/statsx", "/metricsx", "/"].some(isAdminPath)).toBe(false);
  });
});

describe("failure throttle", () => {
  it("blocks an address after the limit until the oldest failure leaves the window, and forgets on success", () => {
    let now = 1_000_000;
    const throttle = createFailureThrottle({ limit: 3, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 3; i++) {
      expect(throttle.blockedForMs("a")).toBe(0);
      throttle.noteFailure("a");
      now += 1000;
    }
    expect(throttle.blockedForMs("a")).toBe(57_000);
    expect(throttle.blockedForMs("b")).toBe(0);
    now += 57_000;
    expect(throttle.blockedForMs("a")).toBe(0);
    throttle.noteFailure("a");
    throttle.noteSuccess("a");
    expect(throttle.blockedForMs("a")).toBe(0);
  });

  it("remembers a bounded number of addresses", () => {
    const throttle = createFailureThrottle({ limit: 1, windowMs: 60_000, now: () => 0, maxAddresses: 2 });
    throttle.noteFailure("a");
    throttle.noteFailure("b");
    throttle.noteFailure("c");
    expect([throttle.blockedForMs("a"), throttle.blockedForMs("b") > 0, throttle.blockedForMs("c") > 0]).toEqual([0, true, true]);
  });
});

describe("admin sessions", () => {
  it("are valid until they expire or are closed, and bounded in number", () => {
    let now = 0;
    const sessions = createAdminSessions({ now: () => now, maxAgeSec: 10, maxSessions: 2 });
    const first = sessions.open();
    expect(first.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sessions.isValid(first.id)).toBe(true);
    now = 10_000;
    expect(sessions.isValid(first.id)).toBe(false);
    const second = sessions.open();
    sessions.close(second.id);
    expect(sessions.isValid(second.id)).toBe(false);
    const [a, b, c] = [sessions.open(), sessions.open(), sessions.open()];
    expect([sessions.isValid(a.id), sessions.isValid(b.id), sessions.isValid(c.id)]).toEqual([false, true, true]);
    expect(sessions.isValid("made-up")).toBe(false);
  });

  it("cookies are read by exact name", () => {
    const headers = new Headers({ cookie: "other=1; aop_admin=abc=; x_aop_admin=no" });
    expect(readCookie(headers, "aop_admin")).toBe("abc=");
    expect(readCookie(new Headers(), "aop_admin")).toBeNull();
  });
});

describe("CORS", () => {
  it("answers configured origins on /v1 only, never with credentials, never on admin paths", () => {
    const allowed = ["https://app.example.com"];
    expect(corsHeadersFor("/v1/chat/completions", "https://app.example.com", allowed)).toEqual({
      "access-control-allow-origin": "https://app.example.com",
      vary: "Origin",
    });
    expect(corsHeadersFor("/v1/chat/completions", "https://evil.example.com", allowed)).toBeNull();
    expect(corsHeadersFor("/admin/instances", "https://app.example.com", allowed)).toBeNull();
    expect(corsHeadersFor("/admin/instances", "https://app.example.com", ["*"])).toBeNull();
    expect(corsHeadersFor("/v1/models", "https://any.example.com", ["*"])).toEqual({ "access-control-allow-origin": "*" });
    expect(corsHeadersFor("/v1/models", null, allowed)).toBeNull();
    expect(corsHeadersFor("/v1/models", "https://app.example.com", [])).toBeNull();
  });

  it("gives a proxied endpoint's answer the headers it would get from its path, without reading the URL", () => {
    const allowed = () => ["https://app.example.com"];
    for (const { path } of PROXY_ENDPOINTS) {
      const url = `http://proxy.test${path.replace(":deployment", "gpt-4o")}?api-version=2024-10-21`;
      for (const origin of [null, "https://app.example.com", "https://evil.example.com"]) {
        const request = new Request(url, { method: "POST", headers: origin ? { origin } : {} });
        expect(proxyResponseHeaders(request, allowed)).toEqual(responseHeadersFor(request, allowed));
      }
    }
    const request = new Request("http://proxy.test/v1/chat/completions", { method: "POST", headers: { origin: "https://app.example.com" } });
    expect(proxyResponseHeaders(request, allowed)).toMatchObject({ "cache-control": "no-store", "access-control-allow-origin": "https://app.example.com" });
  });
});

describe("pathnameOf", () => {
  it("reads the path of an absolute URL as URL would", () => {
    for (const url of [
      "http://127.0.0.1:8080/admin/instances?token=x",
      "http://localhost/",
      "http://host:1/v1/chat/completions#frag",
      "https://h/stats/usage?metric=requests&key=a/b",
      "http://[::1]:9/metrics",
    ]) {
      expect(pathnameOf(url)).toBe(new URL(url).pathname);
    }
    expect(pathnameOf("http://host")).toBe("/");
  });
});

describe("securityHeaders", () => {
  const app = new Elysia()
    .use(securityHeaders({ corsOrigins: () => ["https://app.example.com"] }))
    .get("/", () => new Response("<html></html>", { headers: { "content-type": "text/html" } }))
    .get("/assets/app.js", () => new Response("js", { headers: { "cache-control": "max-age=31536000, immutable", "content-security-policy": "own" } }))
    .get("/plain", () => "text")
    .get("/v1/models", () => Response.json({ data: [] }));
  const get = (path: string, headers: Record<string, string> = {}) => app.handle(new Request(`http://localhost${path}`, { headers }));

  it("puts a strict CSP on dashboard pages and no-store on API answers, keeping what a route set itself", async () => {
    const page = await get("/");
    expect(page.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.headers.get("cache-control")).toBeNull();
    const asset = await get("/assets/app.js");
    expect([asset.headers.get("cache-control"), asset.headers.get("content-security-policy")]).toEqual(["max-age=31536000, immutable", "own"]);
    const plain = await get("/plain");
    expect([plain.headers.get("referrer-policy"), plain.headers.get("content-security-policy")]).toEqual(["no-referrer", DASHBOARD_CSP]);
    const api = await get("/v1/models", { origin: "https://app.example.com" });
    expect([api.headers.get("cache-control"), api.headers.get("access-control-allow-origin"), api.headers.get("content-security-policy")]).toEqual([
      "no-store",
      "https://app.example.com",
      null,
    ]);
  });
});
