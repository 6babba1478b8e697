// Bundles the dashboard (index.html → one script and one stylesheet) with Bun's bundler, in memory or to a directory.
import { join } from "node:path";

export const DASHBOARD_PREFIX = "/dashboard/";

export type DashboardAsset = { path: string; contentType: string; body: Blob };

/** Minified, with asset URLs under /dashboard/ and content hashes in the names of everything but index.html. */
export async function buildDashboard(): Promise<DashboardAsset[]> {
  const result = await Bun.build({
    entrypoints: [join(import.meta.dir, "index.html")],
    minify: true,
    target: "browser",
    publicPath: DASHBOARD_PREFIX,
    // Preact's JSX runtime, from the dashboard's own config rather than whichever tsconfig.json is nearest.
    tsconfig: join(import.meta.dir, "tsconfig.json"),
    naming: { entry: "[name].[ext]", chunk: "[name]-[hash].[ext]", asset: "[name]-[hash].[ext]" },
    define: { "process.env.NODE_ENV": JSON.stringify("production") },
  });
  if (!result.success) throw new AggregateError(result.logs, "dashboard build failed");
  return result.outputs.map((output) => ({
    path: output.path.replace(/^\.\//, ""),
    contentType: output.type,
    body: output,
  }));
}

if (import.meta.main) {
  const outdir = process.argv[2] ?? join(import.meta.dir, "dist");
  for (const asset of await buildDashboard()) {
    await Bun.write(join(outdir, asset.path), asset.body);
    process.stdout.write(`${asset.path}\t${asset.body.size} B\n`);
  }
}
