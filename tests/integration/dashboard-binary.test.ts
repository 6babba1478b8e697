// The compiled single binary serves the dashboard from the files embedded in it, with no source tree beside it.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary } from "../../scripts/build-binary.ts";
import { DASHBOARD_CSP } from "../../server/dashboard/routes.ts";
import { spawnProxy } from "../_support/process.ts";

const dir = mkdtempSync(join(tmpdir(), "proxy-binary-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the compiled binary", () => {
  it("serves /dashboard and every asset it links from its embedded copy", async () => {
    const binary = join(dir, "azure-openai-proxy");
    await buildBinary(binary);
    // Run from an empty directory: nothing on disk can stand in for the embedded files.
    await using proxy = await spawnProxy([], { PORT: "0" }, [binary], dir);
    const page = await fetch(`${proxy.url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
    const html = await page.text();
    expect(html).toContain('<div id="app"></div>');
    const paths = [...html.matchAll(/(?:src|href)="(\/dashboard\/[^"]+)"/g)].map((match) => match[1]!);
    expect(paths.map((path) => path.split(".").at(-1)).sort()).toEqual(["css", "js"]);
    for (const path of paths) {
      const asset = await fetch(`${proxy.url}${path}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get("content-type")).toStartWith(path.endsWith(".js") ? "text/javascript" : "text/css");
      expect((await asset.text()).length).toBeGreaterThan(1000);
    }
    expect(proxy.output()).not.toContain("dashboard unavailable");
  }, 60_000);
});
