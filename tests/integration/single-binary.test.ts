// `bun run build`'s single executable, built once: config from --config, chat through it, tokenizer, migrations and
// default config embedded, graceful stop.
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import packageJson from "../../package.json";
import { EMBEDDED_MIGRATIONS } from "../../server/db/migrations.ts";
import { DASHBOARD_CSP } from "../../server/http/security-headers.ts";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { runToExit, spawnProxy } from "../_support/process.ts";

// bunfig.toml has no per-test timeout setting: child processes and servers on a busy 2-core machine need more than 5 s.
setDefaultTimeout(20_000);

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "proxy-binary-"));
  dirs.push(dir);
  return dir;
}

let binary = "";
beforeAll(async () => {
  // Exactly the build script users run, only into a temp dir instead of dist/.
  const [command, ...args] = packageJson.scripts.build.split(" ");
  expect(command).toBe("bun");
  const outfile = join(tempDir(), "azure-openai-proxy");
  const build = await runToExit(args.map((arg) => (arg === "dist/azure-openai-proxy" ? outfile : arg)), {}, ["bun"]);
  expect(build.exitCode).toBe(0);
  binary = outfile;
}, 120_000);
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("the single binary", () => {
  it("runs from an empty directory with --config: chats through it, counts tokens, migrates and fills the stats database, stops cleanly", async () => {
    await using fake = await startFakeAzure();
    const configDir = tempDir();
    const database = join(configDir, "stats.db");
    writeFileSync(
      join(configDir, "base.yaml"),
      [
        `stats: { database: "${database}", flush_interval: 3600 }`,
        "health_check: { enabled: false }",
        // An api-version without stream usage makes the binary count tokens with its embedded tokenizer.
        `instances: [{ name: old, api_key: "${fake.apiKey}", api_base: "${fake.url}", api_version: "2024-06-01", supported_models: [gpt-4o] }]`,
        "",
      ].join("\n"),
    );
    const proxy = await spawnProxy(["--config", configDir], {}, [binary], tempDir());
    const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "none", maxRetries: 0 });
    const messages = [{ role: "user" as const, content: "Say this is a test" }];
    const answer = await client.chat.completions.create({ model: "gpt-4o", messages });
    expect(answer.choices[0]?.message.content).toBe("Hello from the fake Azure.");
    const stream = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true, stream_options: { include_usage: true } });
    let usage;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage?.prompt_tokens).toBe(12);
    expect(fake.requests.map((request) => request.path)).toEqual([
      "/openai/deployments/gpt-4o/chat/completions",
      "/openai/deployments/gpt-4o/chat/completions",
    ]);

    proxy.process.kill("SIGTERM");
    expect(await proxy.process.exited).toBe(0);
    const client2 = new Database(database, { readonly: true });
    try {
      expect(client2.query("SELECT count(*) AS n FROM __drizzle_migrations").get()).toEqual({ n: Object.keys(EMBEDDED_MIGRATIONS).length });
      expect(client2.query("SELECT count(*) AS n FROM instance_overrides").get()).toEqual({ n: 0 });
      expect(client2.query("SELECT status, prompt_tokens FROM requests ORDER BY id").all()).toEqual([
        { status: 200, prompt_tokens: expect.any(Number) },
        { status: 200, prompt_tokens: 12 },
      ]);
    } finally {
      client2.close();
    }
  });

  it("carries its default configuration: with no file beside it, it starts the simulator and serves", async () => {
    const emptyDir = tempDir();
    await using proxy = await spawnProxy([], { STATS_DATABASE: join(emptyDir, "stats.db") }, [binary], emptyDir);
    expect(proxy.output()).toContain("(embedded) configs/base.yaml");
    const health = await fetch(`${proxy.url}/health`);
    expect(await health.json()).toMatchObject({ status: "ok", instances: 2 });
    const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "none", maxRetries: 0 });
    const answer = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] });
    expect(answer.choices[0]?.message.content?.length).toBeGreaterThan(0);
  });
  it("serves /dashboard and every asset it links from its embedded copy, with no source tree beside it", async () => {
    const emptyDir = tempDir();
    await using proxy = await spawnProxy([], { STATS_DATABASE: join(emptyDir, "stats.db") }, [binary], emptyDir);
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
  });
});
