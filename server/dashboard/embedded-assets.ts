// The dashboard as embedded in a compiled binary. From source this is null (assets.ts builds the dashboard instead);
// `bun run build` (scripts/build-binary.ts) swaps this module for one holding the built files.
import type { DashboardAsset } from "../../dashboard/build.ts";

export const embeddedDashboard: DashboardAsset[] | null = null;
