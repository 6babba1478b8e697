// The live section: traffic, tokens, latency, error rate and limiter utilisation per instance, fed by `metrics` frames.
import type { MetricsSample } from "../../contract.ts";
import { formatCount, formatMs, formatPercent } from "../../lib/format.ts";
import { LiveChart } from "../live-chart/index.tsx";

export function LiveCharts({ samples, names }: { samples: MetricsSample[]; names: string[] }) {
  return (
    <div class="charts">
      <LiveChart id="requests" title="Requests / s (stacked)" samples={samples} names={names} stacked unit={formatCount} lines={[{ pick: (m) => m.requests_per_s }]} />
      <LiveChart id="tokens" title="Tokens / s (stacked)" samples={samples} names={names} stacked unit={formatCount} lines={[{ pick: (m) => m.tokens_per_s }]} />
      <LiveChart
        id="latency"
        title="Latency p50 (dashed) / p95"
        samples={samples}
        names={names}
        unit={formatMs}
        lines={[
          { suffix: "p95", pick: (m) => m.latency_p95_ms },
          { suffix: "p50", pick: (m) => m.latency_p50_ms, dashed: true },
        ]}
      />
      <LiveChart id="errors" title="Error rate" samples={samples} names={names} unit={formatPercent} lines={[{ pick: (m) => m.error_rate }]} />
      <LiveChart id="utilisation" title="Limiter utilisation" samples={samples} names={names} unit={formatPercent} yMax={1} lines={[{ pick: (m) => m.utilisation }]} />
    </div>
  );
}
