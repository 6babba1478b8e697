// Usage over 1 h / 24 h / 7 d from the stats API: totals, tokens and requests over time, and breakdowns by model, instance and key.
import { useEffect, useMemo, useState } from "preact/hooks";
import { ApiError, fetchStats, fetchUsage } from "../../api.ts";
import type { StatsSummary, UsageBreakdown, UsageSeries } from "../../contract.ts";
import { baseLineOptions, type LineConfig, type LineDataset } from "../../lib/charts.ts";
import { colourOf } from "../../lib/palette.ts";
import { formatBucketTime, formatCount } from "../../lib/format.ts";
import { useLineChart } from "../../lib/use-chart.ts";

const WINDOWS = [
  { label: "1 h", minutes: 60 },
  { label: "24 h", minutes: 1440 },
  { label: "7 d", minutes: 10_080 },
] as const;

const REFRESH_MS = 30_000;

type Loaded = { summary: StatsSummary; tokens: UsageSeries; requests: UsageSeries };

export function Usage() {
  const [windowMinutes, setWindowMinutes] = useState<number>(60);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    const load = async () => {
      try {
        const [summary, tokens, requests] = await Promise.all([fetchStats(windowMinutes), fetchUsage("tokens", windowMinutes), fetchUsage("requests", windowMinutes)]);
        if (cancelled) return;
        setLoaded({ summary, tokens, requests });
        setFailure(null);
      } catch (error) {
        if (!cancelled) setFailure(error instanceof ApiError ? error.message : "The proxy could not be reached.");
      }
    };
    void load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [windowMinutes]);

  return (
    <div class="usage" data-role="usage">
      <div class="segmented" role="group" aria-label="Usage window">
        {WINDOWS.map((choice) => (
          <button key={choice.minutes} type="button" aria-pressed={choice.minutes === windowMinutes} onClick={() => setWindowMinutes(choice.minutes)}>
            {choice.label}
          </button>
        ))}
      </div>
      {failure && (
        <p class="action-error" role="alert">
          {failure}
        </p>
      )}
      {loaded && (
        <>
          <dl class="totals" data-role="usage-totals">
            <div>
              <dt>requests</dt>
              <dd>{formatCount(loaded.summary.requests)}</dd>
            </div>
            <div>
              <dt>tokens</dt>
              <dd>{formatCount(loaded.summary.tokens.total)}</dd>
            </div>
            <div>
              <dt>prompt / completion</dt>
              <dd>
                {formatCount(loaded.summary.tokens.prompt)} / {formatCount(loaded.summary.tokens.completion)}
              </dd>
            </div>
            <div>
              <dt>errors</dt>
              <dd class={loaded.summary.errors > 0 ? "bad" : ""}>{formatCount(loaded.summary.errors)}</dd>
            </div>
          </dl>
          <UsageChart tokens={loaded.tokens} requests={loaded.requests} />
          <div class="breakdowns">
            <Breakdown title="By model" rows={loaded.summary.by_model} />
            <Breakdown title="By instance" rows={loaded.summary.by_instance} />
            <Breakdown title="By client key" rows={loaded.summary.by_key} />
          </div>
        </>
      )}
    </div>
  );
}

function Breakdown({ title, rows }: { title: string; rows: Record<string, UsageBreakdown> }) {
  const sorted = Object.entries(rows).sort(([, a], [, b]) => b.tokens.total - a.tokens.total || b.requests - a.requests);
  const most = Math.max(1, ...sorted.map(([, row]) => row.tokens.total));
  return (
    <section class="breakdown">
      <h3>{title}</h3>
      {sorted.length === 0 ? (
        <p class="muted">Nothing in this window.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>name</th>
              <th class="num">requests</th>
              <th class="num">tokens</th>
              <th class="num">errors</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map(([name, row]) => (
              <tr key={name}>
                <td>
                  {name}
                  <div class="share" aria-hidden="true">
                    <div style={{ width: `${(row.tokens.total / most) * 100}%` }} />
                  </div>
                </td>
                <td class="num">{formatCount(row.requests)}</td>
                <td class="num">{formatCount(row.tokens.total)}</td>
                <td class={`num ${row.errors > 0 ? "bad" : ""}`}>{formatCount(row.errors)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function UsageChart({ tokens, requests }: { tokens: UsageSeries; requests: UsageSeries }) {
  const datasets = useMemo(
    (): LineDataset[] => [
      { label: "tokens", data: tokens.points.map((point) => ({ x: point.t, y: point.value })), borderColor: colourOf(0), backgroundColor: `${colourOf(0)}55`, fill: "origin", yAxisID: "y" },
      { label: "requests", data: requests.points.map((point) => ({ x: point.t, y: point.value })), borderColor: colourOf(1), backgroundColor: colourOf(1), yAxisID: "y1" },
    ],
    [tokens, requests],
  );
  const canvasRef = useLineChart(usageConfig, datasets);
  return (
    <figure class="chart" data-chart="usage">
      <figcaption>Tokens and requests per {bucketLabel(tokens.bucket_seconds)}</figcaption>
      <div class="chart-box">
        <canvas ref={canvasRef} role="img" aria-label="Tokens and requests over the window" />
      </div>
    </figure>
  );
}

function bucketLabel(seconds: number): string {
  if (seconds % 3600 === 0) return seconds === 3600 ? "hour" : `${seconds / 3600} hours`;
  return seconds === 60 ? "minute" : `${seconds / 60} minutes`;
}

function usageConfig(): LineConfig {
  const count = (value: number | string) => formatCount(Number(value));
  return {
    type: "line",
    data: { datasets: [] },
    options: {
      ...baseLineOptions(),
      scales: {
        x: {
          type: "linear",
          ticks: {
            maxTicksLimit: 8,
            // Over more than a day the hour alone is ambiguous: add the weekday.
            callback(value) {
              return formatBucketTime(Number(value) * 1000, this.max - this.min > 86_400);
            },
          },
          grid: {},
        },
        y: { type: "linear", beginAtZero: true, position: "left", ticks: { maxTicksLimit: 5, callback: count }, grid: {} },
        y1: { type: "linear", beginAtZero: true, position: "right", ticks: { maxTicksLimit: 5, callback: count }, grid: { drawOnChartArea: false } },
      },
      plugins: {
        ...baseLineOptions().plugins,
        tooltip: { callbacks: { title: (items) => new Date((items[0]?.parsed.x ?? 0) * 1000).toLocaleString() } },
      },
    },
  };
}
