// Where the dashboard's files come from: embedded in the compiled binary, or bundled in memory from dashboard/ when run from source.
import type { DashboardAsset } from "../../dashboard/build.ts";
import { embeddedDashboard } from "./embedded-assets.ts";

export async function loadDashboardAssets(): Promise<DashboardAsset[]> {
  if (embeddedDashboard) return embeddedDashboard;
  if (Bun.isStandaloneExecutable) {
    throw new Error("this binary was compiled without the dashboard: build it with `bun run build`");
  }
  // Imported on demand: the bundler is only needed from source, and only once someone opens the dashboard.
  const { buildDashboard } = await import("../../dashboard/build.ts");
  return buildDashboard();
}
