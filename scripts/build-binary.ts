// `bun run build`: the single binary. Compiles server/main.ts with the built dashboard embedded in place of the empty stand-in module.
import { join } from "node:path";
import { buildDashboard, type DashboardAsset } from "../dashboard/build.ts";

const ROOT = join(import.meta.dir, "..");
const STAND_IN = join(ROOT, "server", "dashboard", "embedded-assets.ts");

/** The module the binary gets instead of the stand-in: every asset as a string literal (all are text: html, js, css). */
export async function embeddedAssetsSource(assets: DashboardAsset[]): Promise<string> {
  const entries = await Promise.all(
    assets.map(async (asset) => `  { path: ${JSON.stringify(asset.path)}, contentType: ${JSON.stringify(asset.contentType)}, body: new Blob([${JSON.stringify(await asset.body.text())}]) },`),
  );
  return `export const embeddedDashboard = [\n${entries.join("\n")}\n];\n`;
}

export async function buildBinary(outfile: string): Promise<void> {
  const assets = await buildDashboard();
  const result = await Bun.build({
    entrypoints: [join(ROOT, "server", "main.ts")],
    compile: { outfile },
    minify: true,
    files: { [STAND_IN]: await embeddedAssetsSource(assets) },
  });
  if (!result.success) throw new AggregateError(result.logs, "compile failed");
}

if (import.meta.main) {
  const outfile = process.argv[2] ?? join(ROOT, "dist", "azure-openai-proxy");
  await buildBinary(outfile);
  process.stdout.write(`${outfile}\n`);
}
