// The dashboard in real headless Chromium, in front of the real proxy, three fake Azure instances and live SDK traffic.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { colourOf } from "../../dashboard/src/lib/palette.ts";
import { createLogger } from "../../server/log.ts";
import { openStats, type OpenedStats } from "../../server/stats/open.ts";
import { artifactPath, canvasImage, countPixelsInColours, launchChromium } from "../_support/browser.ts";
import { startFakeAzure, type FakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, buildConfig, startProxy, type TestProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

const ADMIN_TOKEN = "admin-token-for-browser-tests";
const CLIENT_KEY = "sk-browser-client-key";
const NAMES = ["east", "west", "north"] as const;
/** The bound for first meaningful paint on loopback. */
const FIRST_PAINT_BUDGET_MS = 1000;

let dir: string;
let fakes: Record<(typeof NAMES)[number], FakeAzure>;
let stats: OpenedStats;
let proxy: TestProxy;
let browser: Browser & AsyncDisposable;
let traffic: { stop: () => Promise<void> };
let client: OpenAI;

/** Two SDK clients sending a paced mix of plain and streamed chat completions until stopped. */
function startTraffic(sdk: OpenAI) {
  let stopped = false;
  const worker = async (stream: boolean) => {
    while (!stopped) {
      await (stream
        ? sdk.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], stream: true }).then(async (chunks) => {
            for await (const _ of chunks);
          })
        : sdk.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] })
      ).catch(() => undefined);
      // Pacing, not waiting for a condition: about 15 requests a second keeps every chart moving without loading the machine.
      await Bun.sleep(120);
    }
  };
  const workers = [worker(false), worker(true)];
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(workers);
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "proxy-browser-"));
  fakes = { east: await startFakeAzure(), west: await startFakeAzure(), north: await startFakeAzure() };
  const logger = createLogger({ write: () => {} });
  stats = openStats(buildConfig({ stats: { database: join(dir, "stats.db"), flush_interval: 1 } }).stats, logger);
  proxy = await startProxy({
    config: {
      name: "Browser test proxy",
      admin: { token: ADMIN_TOKEN },
      auth: { api_keys: [{ name: "browser-team", key: CLIENT_KEY }] },
      health_check: { enabled: false },
      routing: { strategy: "round_robin" },
      instances: azureInstances(NAMES.map((name) => ({ name, url: fakes[name].url, apiKey: fakes[name].apiKey, max_tpm: 20_000 }))),
    },
    stats: stats.deps,
    logLevel: "info",
  });
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  traffic = startTraffic(client);
  browser = await launchChromium();
}, 30_000);

afterAll(async () => {
  await traffic?.stop();
  await browser?.[Symbol.asyncDispose]();
  await proxy?.[Symbol.asyncDispose]();
  stats?.close();
  for (const fake of Object.values(fakes ?? {})) await fake[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}` };

async function adminInstance(name: string) {
  const response = await fetch(`${proxy.url}/admin/instances`, { headers: adminHeaders });
  const body = (await response.json()) as { instances: { name: string; enabled: boolean; weight: number; state: { status: string } }[] };
  const found = body.instances.find((instance) => instance.name === name);
  if (!found) throw new Error(`no instance ${name}`);
  return found;
}

/** A fresh browser context already holding an admin session, as after a login. */
async function signedInPage(options: { width?: number; height?: number; colorScheme?: "light" | "dark" } = {}): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: options.height ?? 800 }, colorScheme: options.colorScheme ?? "light" });
  const login = await context.request.post(`${proxy.url}/admin/login`, { data: { token: ADMIN_TOKEN } });
  expect(login.status()).toBe(204);
  const page = await context.newPage();
  // Script errors and CSP violations both reach the console: a page that logs one is broken somewhere.
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  await page.goto(`${proxy.url}/dashboard`);
  await page.locator("[data-instance]").first().waitFor();
  return { context, page, errors };
}

function card(page: Page, name: string) {
  return page.locator(`[data-instance="${name}"]`);
}

describe("dashboard in Chromium", () => {
  it("refuses a wrong admin token with a message and stays on the login screen", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const root = await page.goto(`${proxy.url}/`);
      expect(page.url()).toBe(`${proxy.url}/dashboard`);
      expect(root?.headers()["content-security-policy"]).toContain("script-src 'self'");
      await page.getByLabel("Admin token").fill("not-the-admin-token");
      await page.getByRole("button", { name: "Sign in" }).click();
      await expect(page.getByRole("alert").textContent()).resolves.toBe("That admin token was refused.");
      await page.screenshot({ path: artifactPath("login-refused.png") });
      expect(await page.locator("[data-instance]").count()).toBe(0);
      expect(await context.cookies()).toEqual([]);
    } finally {
      await context.close();
    }
  }, 30_000);

  it("logs in with the token, shows every instance, and logs out", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      await page.goto(`${proxy.url}/dashboard`);
      await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.locator("[data-instance]").first().waitFor();
      expect(await page.locator("[data-instance]").evaluateAll((cards) => cards.map((element) => (element as unknown as { dataset: { instance: string } }).dataset.instance))).toEqual([...NAMES]);
      expect(await page.locator("h1").textContent()).toBe("Browser test proxy");
      await until(async () => (await page.locator('[data-role="connection"]').textContent()) === "live", { timeoutMs: 5000 });
      const session = (await context.cookies()).find((cookie) => cookie.name === "aop_admin");
      expect(session?.httpOnly).toBe(true);

      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByLabel("Admin token").waitFor();
      const after = await context.request.get(`${proxy.url}/admin/session`);
      expect(after.status()).toBe(401);
    } finally {
      await context.close();
    }
  }, 30_000);

  it("paints the fleet within a second of navigation, in a fresh browser context each time", async () => {
    const paints: number[] = [];
    for (let i = 0; i < 3; i++) {
      // A new context has an empty cache: the page, script and stylesheet all come over the wire.
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        expect((await context.request.post(`${proxy.url}/admin/login`, { data: { token: ADMIN_TOKEN } })).status()).toBe(204);
        const page = await context.newPage();
        await page.goto(`${proxy.url}/dashboard`);
        await page.locator("[data-instance]").first().waitFor();
        await until(async () => (await page.evaluate(() => performance.getEntriesByName("dashboard:fleet-painted").length)) > 0);
        paints.push(await page.evaluate(() => performance.getEntriesByName("dashboard:fleet-painted")[0]?.startTime ?? Number.NaN));
      } finally {
        await context.close();
      }
    }
    const median = [...paints].sort((a, b) => a - b)[1]!;
    console.log(`first meaningful paint (fleet cards drawn), ms after navigation start: ${paints.map((ms) => ms.toFixed(0)).join(", ")}; median ${median.toFixed(0)}`);
    expect(median).toBeLessThan(FIRST_PAINT_BUDGET_MS);
  }, 30_000);

  it("draws the live charts and updates them without a reload", async () => {
    const { context, page } = await signedInPage();
    try {
      const lineColours = NAMES.map((_, index) => colourOf(index));
      // Error rate and utilisation sit on the x axis with this traffic (no errors, little of the limit used), so they prove nothing here.
      for (const chart of ["requests", "tokens", "latency"]) {
        const canvas = page.locator(`[data-chart="${chart}"] canvas`);
        await until(async () => (await countPixelsInColours(canvas, lineColours)) > 50, { timeoutMs: 8000, message: `${chart} chart draws data` });
      }
      const requests = page.locator('[data-chart="requests"] canvas');
      const before = await canvasImage(requests);
      await until(async () => (await canvasImage(requests)) !== before, { timeoutMs: 5000, message: "requests chart redraws with new samples" });
      await page.screenshot({ path: artifactPath("charts-live.png") });
    } finally {
      await context.close();
    }
  }, 30_000);

  it("turns an instance off from its card and the proxy stops routing to it; back on, it gets traffic again", async () => {
    const { context, page } = await signedInPage();
    try {
      const west = card(page, "west");
      await west.locator('[data-role="enabled"]').uncheck();
      await until(async () => (await west.getAttribute("data-status")) === "disabled", { timeoutMs: 5000 });
      expect((await adminInstance("west")).enabled).toBe(false);
      await expect(west.locator('[data-role="drift"]').textContent()).resolves.toBe("≠ YAML true");

      // Requests already routed when the switch flipped may still land; wait for one round of new traffic first.
      const eastMark = fakes.east.requests.length;
      await until(() => fakes.east.requests.length >= eastMark + 3, { timeoutMs: 5000 });
      const westAfterOff = fakes.west.requests.length;
      const eastAfterOff = fakes.east.requests.length;
      const northAfterOff = fakes.north.requests.length;
      await until(() => fakes.east.requests.length >= eastAfterOff + 10 && fakes.north.requests.length >= northAfterOff + 10, { timeoutMs: 10_000 });
      expect(fakes.west.requests.length).toBe(westAfterOff);
      await page.screenshot({ path: artifactPath("instance-disabled.png") });

      await west.locator('[data-role="revert"]').click();
      await until(async () => (await west.getAttribute("data-status")) === "healthy", { timeoutMs: 5000 });
      await until(() => fakes.west.requests.length > westAfterOff + 3, { timeoutMs: 10_000, message: "west gets traffic again" });
      expect(await west.locator('[data-role="drift"]').count()).toBe(0);
    } finally {
      await context.close();
    }
  }, 30_000);

  it("edits an instance's weight inline and marks it as drifted from the YAML", async () => {
    const { context, page } = await signedInPage();
    try {
      const east = card(page, "east");
      const weight = east.locator('[data-role="weight"]');
      await weight.fill("4");
      // The page re-renders with every metrics frame; what the operator typed must survive that.
      const chart = page.locator('[data-chart="requests"] canvas');
      const drawn = await canvasImage(chart);
      await until(async () => (await canvasImage(chart)) !== drawn, { timeoutMs: 5000, message: "a metrics frame re-renders the page" });
      expect(await weight.inputValue()).toBe("4");
      await weight.press("Enter");
      await until(async () => (await adminInstance("east")).weight === 4, { timeoutMs: 5000 });
      await expect(east.locator('[data-role="drift"]').textContent()).resolves.toBe("≠ YAML 1");
      const refused = await page.evaluate(async () => (await fetch("/admin/instances/east/config", { method: "PUT", headers: { "content-type": "application/json" }, body: '{"weight":-1}' })).status);
      expect(refused).toBe(400);
      await east.locator('[data-role="revert"]').click();
      await until(async () => (await adminInstance("east")).weight === 1, { timeoutMs: 5000 });
    } finally {
      await context.close();
    }
  }, 30_000);

  it("shows a 429 cooldown with its reason and a countdown, and clears it with Reset", async () => {
    const { context, page } = await signedInPage();
    try {
      fakes.north.enqueue({ kind: "status", status: 429, headers: { "retry-after": "30" } });
      const north = card(page, "north");
      await until(async () => (await north.getAttribute("data-status")) === "cooldown", { timeoutMs: 10_000, message: "north cools down" });
      const countdown = north.locator('[data-role="countdown"]');
      const secondsLeft = async () => Number.parseInt((await countdown.textContent()) ?? "", 10);
      const first = await secondsLeft();
      expect(first).toBeGreaterThan(20);
      expect(first).toBeLessThanOrEqual(30);
      await until(async () => (await secondsLeft()) < first, { timeoutMs: 5000, message: "the countdown counts down" });
      expect(await north.locator('[data-role="cooldown"]').textContent()).toContain("left");
      await page.screenshot({ path: artifactPath("instance-cooldown.png") });

      await north.locator('[data-role="reset"]').click();
      await until(async () => (await north.getAttribute("data-status")) === "healthy", { timeoutMs: 5000 });
      expect(await north.locator('[data-role="countdown"]').count()).toBe(0);
    } finally {
      await context.close();
    }
  }, 30_000);

  it("lists a failed client request in recent errors as it happens", async () => {
    const { context, page } = await signedInPage();
    try {
      const failure = await client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(OpenAI.NotFoundError);
      const requestId = (failure as InstanceType<typeof OpenAI.NotFoundError>).requestID;
      const row = page.locator('[data-role="recent-errors"] tr', { hasText: "model_not_found" }).first();
      await row.waitFor({ timeout: 5000 });
      const text = await row.textContent();
      expect(text).toContain("no-such-model");
      expect(text).toContain("404");
      if (requestId) expect(text).toContain(requestId);
    } finally {
      await context.close();
    }
  }, 30_000);

  it("shows usage by model, instance and client key from the stats API", async () => {
    await until(
      async () => ((await (await fetch(`${proxy.url}/stats/?window=60`, { headers: adminHeaders })).json()) as { requests: number }).requests > 20,
      { timeoutMs: 10_000, message: "stats recorded traffic" },
    );
    const { context, page } = await signedInPage();
    try {
      await page.getByRole("button", { name: "24 h" }).click();
      const usage = page.locator('[data-role="usage"]');
      await until(async () => (await usage.textContent())?.includes("browser-team") ?? false, { timeoutMs: 5000 });
      const text = (await usage.textContent()) ?? "";
      for (const name of [...NAMES, "gpt-4o", "browser-team"]) expect(text).toContain(name);
      const usageCanvas = page.locator('[data-chart="usage"] canvas');
      await until(async () => (await countPixelsInColours(usageCanvas, [colourOf(0), colourOf(1)])) > 20, { timeoutMs: 5000 });
    } finally {
      await context.close();
    }
  }, 30_000);

  it("reads well at 1280×800 and at 390 px, in the light and the dark theme (screenshots saved)", async () => {
    for (const [label, width, height] of [["1280x800", 1280, 800], ["390", 390, 844]] as const) {
      for (const colorScheme of ["light", "dark"] as const) {
        const { context, page, errors } = await signedInPage({ width, height, colorScheme });
        try {
          await until(async () => (await countPixelsInColours(page.locator('[data-chart="requests"] canvas'), [colourOf(0)])) > 20, { timeoutMs: 8000 });
          // Nothing may stick out sideways: a page wider than the viewport means a layout bug at this width.
          const scrollWidth = await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
          expect(scrollWidth).toBeLessThanOrEqual(width);
          const background = await page.locator("body").evaluate((element) => (globalThis as unknown as { getComputedStyle: (e: unknown) => { backgroundColor: string } }).getComputedStyle(element).backgroundColor);
          expect(background).toBe(colorScheme === "dark" ? "rgb(18, 21, 26)" : "rgb(245, 246, 248)");
          await page.screenshot({ path: artifactPath(`dashboard-${label}-${colorScheme}.png`) });
          await page.screenshot({ path: artifactPath(`dashboard-${label}-${colorScheme}-full.png`), fullPage: true });
          expect(errors).toEqual([]);
        } finally {
          await context.close();
        }
      }
    }
  }, 60_000);
});
