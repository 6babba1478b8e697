// The fleet overview: one card per instance, with the live figures derived from the kept samples.
import type { InstanceView, MetricsSample } from "../../contract.ts";
import { colourOf } from "../../lib/palette.ts";
import { cooldownSecondsLeft, errorsInLastMinute, latestMetrics, recentLatency } from "../../select.ts";
import { InstanceCard } from "../instance-card/index.tsx";

export type FleetProps = {
  instances: InstanceView[];
  samples: MetricsSample[];
  names: string[];
  nowMs: number;
  onUpdated: (view: InstanceView) => void;
};

export function Fleet({ instances, samples, names, nowMs, onUpdated }: FleetProps) {
  if (instances.length === 0) return <p class="muted">No instance configured yet.</p>;
  return (
    <div class="fleet">
      {instances.map((instance) => (
        <InstanceCard
          key={instance.name}
          instance={instance}
          live={latestMetrics(samples, instance.name)}
          latency={recentLatency(samples, instance.name)}
          errorsLastMinute={errorsInLastMinute(samples, instance.name)}
          cooldownSeconds={cooldownSecondsLeft(instance, nowMs)}
          colour={colourOf(names.indexOf(instance.name))}
          onUpdated={onUpdated}
        />
      ))}
    </div>
  );
}
