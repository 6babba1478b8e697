// The dashboard's event stream survives a proxy restart (it notices, backs off, reconnects, resyncs); a switched-off admin API is explained.
import { describe, expect, it } from "bun:test";
import { launchChromium } from "../_support/browser.ts";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

describe("dashboard event stream and access", () => {
  it("shows the connection lost while the proxy is down, then reconnects and shows the restarted proxy's fleet", async () => {
    await using azure = await startFakeAzure();
    // No admin token: loopback clients need no session, so the page's access survives the restart.
    const configWith = (names: string[]) => ({
      health_check: { enabled: false },
      instances: azureInstances(names.map((name) => ({ name, url: azure.url, apiKey: azure.apiKey }))),
    });
    const first = await startProxy({ config: configWith(["east", "west"]) });
    const port = first.port;
    await using browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      await page.goto(`${first.url}/dashboard`);
      const connection = page.locator('[data-role="connection"]');
      await until(async () => (await connection.textContent()) === "live", { timeoutMs: 10_000 });
      expect(await page.locator("[data-instance]").count()).toBe(2);

      await first[Symbol.asyncDispose]();
      await until(async () => (await connection.textContent()) === "reconnecting…", { timeoutMs: 5000, message: "the page notices the dropped stream" });

      await using second = await startProxy({ config: configWith(["east", "west", "south"]), port });
      await until(async () => (await connection.textContent()) === "live", { timeoutMs: 15_000, message: "the page reconnects" });
      await until(async () => (await page.locator('[data-instance="south"]').count()) === 1, { timeoutMs: 5000, message: "the new snapshot's fleet is shown" });
      expect(second.port).toBe(port);
    } finally {
      await context.close();
    }
  }, 40_000);

  it("says why there is no dashboard when the admin API is off (production without a token)", async () => {
    await using azure = await startFakeAzure();
    await using proxy = await startProxy({
      config: { health_check: { enabled: false }, instances: azureInstances([{ url: azure.url, apiKey: azure.apiKey }]) },
      environment: "production",
    });
    await using browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      await page.goto(`${proxy.url}/dashboard`);
      await expect(page.getByRole("alert").textContent()).resolves.toContain("The admin API is disabled: no admin.token is configured");
      expect(await page.getByLabel("Admin token").count()).toBe(0);
    } finally {
      await context.close();
    }
  }, 30_000);
});
