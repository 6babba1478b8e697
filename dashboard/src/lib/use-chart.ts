// Owns one Chart.js instance per canvas: created on mount, datasets updated in place, destroyed on unmount.
import { useEffect, useRef } from "preact/hooks";
import { applyTheme, Chart, type LineConfig, type LineDataset } from "./charts.ts";

/**
 * `config` is read once, at mount; later renders only swap `datasets` (matched by label) and let
 * `beforeUpdate` adjust options, so the chart never flickers or re-animates as live samples arrive.
 */
export function useLineChart(config: () => LineConfig, datasets: LineDataset[], beforeUpdate?: (chart: Chart<"line", { x: number; y: number | null }[]>) => void) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const chartRef = useRef<Chart<"line", { x: number; y: number | null }[]> | null>(null);

  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return;
    const chart = new Chart(canvas, config());
    applyTheme(chart);
    chart.update("none");
    chartRef.current = chart;
    const scheme = matchMedia("(prefers-color-scheme: dark)");
    const onSchemeChange = () => {
      applyTheme(chart);
      chart.update("none");
    };
    scheme.addEventListener("change", onSchemeChange);
    return () => {
      scheme.removeEventListener("change", onSchemeChange);
      chart.destroy();
      chartRef.current = null;
    };
  }, []);

  useEffect(() => {
    const chart = chartRef.current;
    if (!chart) return;
    const current = chart.data.datasets;
    const sameLines = current.length === datasets.length && current.every((dataset, i) => dataset.label === datasets[i]?.label);
    if (sameLines) {
      current.forEach((dataset, i) => {
        dataset.data = datasets[i]?.data ?? [];
      });
    } else {
      chart.data.datasets = datasets;
    }
    beforeUpdate?.(chart);
    chart.update("none");
  }, [datasets]);

  return canvasRef;
}
