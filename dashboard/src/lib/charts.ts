// Chart.js with only the parts the dashboard draws registered (line charts on linear axes, fills for stacks, tooltip, legend).
import {
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type ChartDataset,
  type ChartOptions,
} from "chart.js";

Chart.register(LineController, LineElement, PointElement, LinearScale, Filler, Tooltip, Legend);

export { Chart };
export type LineConfig = ChartConfiguration<"line", { x: number; y: number | null }[]>;
export type LineDataset = ChartDataset<"line", { x: number; y: number | null }[]>;

/** What every chart here shares: no animation (data arrives every second), fills its box, thin lines without dots, legend below. */
export function baseLineOptions(): ChartOptions<"line"> {
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    normalized: true,
    interaction: { mode: "nearest", axis: "x", intersect: false },
    elements: { point: { radius: 0, hitRadius: 4 }, line: { borderWidth: 1.5, tension: 0 } },
    plugins: { legend: { position: "bottom", labels: { boxWidth: 10, boxHeight: 10 } } },
  };
}

/** Axis text and grid colours come from the stylesheet's variables, so the charts follow the page's theme. */
export function themeColours(): { text: string; grid: string } {
  const style = getComputedStyle(document.documentElement);
  return {
    text: style.getPropertyValue("--muted").trim() || "#666666",
    grid: style.getPropertyValue("--grid").trim() || "rgba(128,128,128,0.2)",
  };
}

export function applyTheme(chart: Chart): void {
  const { text, grid } = themeColours();
  chart.options.color = text;
  for (const scale of Object.values(chart.options.scales ?? {})) {
    if (!scale) continue;
    if (scale.ticks) scale.ticks.color = text;
    if (scale.grid) scale.grid.color = grid;
  }
}
