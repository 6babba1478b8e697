// The bundled page in real Chromium under the proxy's strict CSP: it loads, its script runs and mounts, nothing is refused.
import { describe, expect, it } from "bun:test";
import { artifactPath, launchChromium } from "../_support/browser.ts";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

describe("dashboard page in Chromium", () => {
  it("loads from / under the strict CSP, runs its script and mounts, with no script error or CSP refusal", async () => {
    await using azure = await startFakeAzure();
    await using proxy = await startProxy({ config: { health_check: { enabled: false }, instances: azureInstances([{ url: azure.url, apiKey: azure.apiKey }]) } });
    await using browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      // A CSP refusal is reported on the console as an error, like a script exception.
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      page.on("console", (message) => {
        if (message.type() === "error" && !message.text().includes("Failed to load resource")) errors.push(message.text());
      });
      const response = await page.goto(`${proxy.url}/`);
      expect(page.url()).toBe(`${proxy.url}/dashboard`);
      expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'");
      // The app mounts into #app: whatever it shows first (sign-in form or a message about the admin API) came from the bundle.
      const app = page.locator("#app > *");
      await until(async () => (await app.count()) > 0, { timeoutMs: 10_000, message: "the bundled script mounts the app" });
      const styled = await page.locator("body").evaluate((element) => (globalThis as unknown as { getComputedStyle: (e: unknown) => { backgroundColor: string } }).getComputedStyle(element).backgroundColor);
      expect(styled).toBe("rgb(245, 246, 248)");
      await page.screenshot({ path: artifactPath("page-mounted.png") });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 30_000);
});
