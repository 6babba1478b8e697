// One live line chart over the last ten minutes, one line per instance (stacked areas when the figures add up).
import { useMemo } from "preact/hooks";
import type { InstanceMetrics, MetricsSample } from "../../contract.ts";
import { baseLineOptions, type LineConfig, type LineDataset } from "../../lib/charts.ts";
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
  const spanSeconds = visibleSpanSeconds(props.samples);
  const canvasRef = useLineChart(() => lineConfig(props), datasets, (chart) => {
    const x = chart.options.scales?.x;
    if (x) {
      x.min = -spanSeconds;
      x.ticks = { ...x.ticks, stepSize: spanSeconds > 180 ? 120 : spanSeconds > 60 ? 30 : 10 };
    }
  });
  return (
    <figure class="chart" data-chart={props.id}>
      <figcaption>{props.title}</figcaption>
      <div class="chart-box">
        <canvas ref={canvasRef} role="img" aria-label={props.title} />
      </div>
    </figure>
  );
}

/**
 * The x axis starts a minute wide and grows with the history up to the full ten minutes, so a freshly
 * opened page shows its first seconds as lines rather than a few pixels at the right edge.
 */
function visibleSpanSeconds(samples: MetricsSample[]): number {
  const first = samples[0];
  const last = samples.at(-1);
  const heldSeconds = first && last ? (last.at - first.at) / 1000 : 0;
  return Math.min(LIVE_WINDOW_MS / 1000, Math.max(60, Math.ceil(heldSeconds / 60) * 60));
}

function lineConfig(props: LiveChartProps): LineConfig {
  return {
    type: "line",
    data: { datasets: [] },
    options: {
      ...baseLineOptions(),
      scales: {
        x: {
          type: "linear",
          min: -visibleSpanSeconds(props.samples),
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
        ...baseLineOptions().plugins,
        tooltip: { callbacks: { title: (items) => formatSecondsAgo(Math.round(items[0]?.parsed.x ?? 0)) } },
      },
    },
  };
}
