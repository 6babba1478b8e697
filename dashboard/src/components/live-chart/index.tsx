// One live line chart over the last ten minutes, one line per instance (stacked areas when the figures add up).
import { useMemo } from "preact/hooks";
import type { InstanceMetrics, MetricsSample } from "../../contract.ts";
import { type LineConfig, type LineDataset } from "../../lib/charts.ts";
import { colourOf } from "../../lib/palette.ts";
import { formatSecondsAgo } from "../../lib/format.ts";
import { useLineChart } from "../../lib/use-chart.ts";
import { LIVE_WINDOW_MS } from "../../state.ts";
import { seriesOf } from "../../select.ts";

export type LiveLine = { suffix?: string; pick: (metrics: InstanceMetrics) => number | null; dashed?: boolean };

export type LiveChartProps = {
  id: string;
  title: string;
  samples: MetricsSample[];
  names: string[];
  lines: LiveLine[];
  stacked?: boolean;
  /** Formats y-axis ticks. */
  unit: (value: number) => string;
  yMax?: number;
};

export function LiveChart(props: LiveChartProps) {
  const datasets = useMemo(
    () =>
      props.names.flatMap((name, index) =>
        props.lines.map(
          (line): LineDataset => ({
            label: line.suffix ? `${name} ${line.suffix}` : name,
            data: seriesOf(props.samples, name, line.pick),
            borderColor: colourOf(index),
            backgroundColor: `${colourOf(index)}99`,
            borderDash: line.dashed ? [4, 3] : [],
            fill: props.stacked ? (index === 0 ? "origin" : "-1") : false,
          }),
        ),
      ),
    [props.samples, props.names],
  );
  const canvasRef = useLineChart(() => lineConfig(props), datasets);
  return (
    <figure class="chart" data-chart={props.id}>
      <figcaption>{props.title}</figcaption>
      <div class="chart-box">
        <canvas ref={canvasRef} role="img" aria-label={props.title} />
      </div>
    </figure>
  );
}

function lineConfig(props: LiveChartProps): LineConfig {
  return {
    type: "line",
    data: { datasets: [] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      normalized: true,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      elements: { point: { radius: 0, hitRadius: 4 }, line: { borderWidth: 1.5, tension: 0 } },
      scales: {
        x: {
          type: "linear",
          min: -LIVE_WINDOW_MS / 1000,
          max: 0,
          ticks: { stepSize: 120, callback: (value) => formatSecondsAgo(Number(value)) },
          grid: {},
        },
        y: {
          type: "linear",
          beginAtZero: true,
          stacked: props.stacked ?? false,
          ...(props.yMax === undefined ? {} : { max: props.yMax }),
          ticks: { maxTicksLimit: 5, callback: (value) => props.unit(Number(value)) },
          grid: {},
        },
      },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 10, boxHeight: 10 } },
        tooltip: { callbacks: { title: (items) => formatSecondsAgo(Math.round(items[0]?.parsed.x ?? 0)) } },
      },
    },
  };
}
