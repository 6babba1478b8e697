// One instance: health, circuit, cooldown countdown, runtime tunables (editable), limiter bars, Azure's headroom, live figures.
import { useState } from "preact/hooks";
import { clearOverrides, resetInstance, updateInstance, ApiError } from "../../api.ts";
import type { InstanceMetrics, InstanceView, Tunables } from "../../contract.ts";
import { formatCount, formatCountdown, formatMs, formatPercent } from "../../lib/format.ts";
import { shareOf } from "../../select.ts";

export type InstanceCardProps = {
  instance: InstanceView;
  live: InstanceMetrics | undefined;
  latency: { p50: number | null; p95: number | null };
  errorsLastMinute: number;
  cooldownSeconds: number;
  colour: string;
  onUpdated: (view: InstanceView) => void;
};

const STATUS_LABEL: Record<InstanceView["state"]["status"], string> = {
  healthy: "healthy",
  cooldown: "cooling down",
  circuit_open: "circuit open",
  half_open: "half open",
  misconfigured: "misconfigured",
  probe_down: "probe down",
  disabled: "disabled",
};

export function InstanceCard(props: InstanceCardProps) {
  const { instance, live, latency, cooldownSeconds } = props;
  const { state } = instance;
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async (action: () => Promise<InstanceView>) => {
    setBusy(true);
    setFailure(null);
    try {
      props.onUpdated(await action());
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The proxy could not be reached.");
    } finally {
      setBusy(false);
    }
  };
  const update = (patch: Partial<Tunables>) => run(() => updateInstance(instance.name, patch));
  const drifted = new Set(instance.drift);
  const inFlight = live?.in_flight ?? state.in_flight;

  return (
    <article class={`card status-${state.status}`} data-instance={instance.name} data-status={state.status} aria-busy={busy}>
      <header class="card-head">
        <span class="swatch" style={{ background: props.colour }} aria-hidden="true" />
        <h3 title={instance.api_base}>{instance.name}</h3>
        <span class="badge" data-role="status">
          {STATUS_LABEL[state.status]}
        </span>
      </header>

      {cooldownSeconds > 0 && (
        <p class="cooldown" data-role="cooldown">
          Cooling down: <strong data-role="countdown">{formatCountdown(cooldownSeconds)}</strong> left
          {state.cooldown_reason && <span class="muted"> ({state.cooldown_reason})</span>}
        </p>
      )}

      <div class="tunables">
        <label class="toggle">
          <input
            type="checkbox"
            data-role="enabled"
            checked={instance.enabled}
            disabled={busy}
            onChange={(event) => update({ enabled: event.currentTarget.checked })}
          />
          <span>enabled</span>
          {drifted.has("enabled") && <Drift file={String(instance.file.enabled)} />}
        </label>
        <NumberField label="weight" value={instance.weight} drift={drifted.has("weight") ? instance.file.weight : undefined} disabled={busy} onCommit={(weight) => update({ weight })} />
        <NumberField label="priority" value={instance.priority} drift={drifted.has("priority") ? instance.file.priority : undefined} disabled={busy} onCommit={(priority) => update({ priority })} />
      </div>

      <Meter label="TPM" used={state.limiter.tokens_used} limit={instance.max_tpm} drift={drifted.has("max_tpm") ? instance.file.max_tpm : undefined} />
      <Meter label="RPM" used={state.limiter.requests_used} limit={instance.max_rpm} drift={drifted.has("max_rpm") ? instance.file.max_rpm : undefined} />

      <dl class="figures">
        <div>
          <dt>in flight</dt>
          <dd data-role="in-flight">{inFlight}</dd>
        </div>
        <div>
          <dt>p50 / p95</dt>
          <dd>
            {formatMs(latency.p50)} / {formatMs(latency.p95)}
          </dd>
        </div>
        <div>
          <dt>errors 1 min</dt>
          <dd class={props.errorsLastMinute > 0 ? "bad" : ""}>{props.errorsLastMinute}</dd>
        </div>
        <div>
          <dt>circuit</dt>
          <dd data-role="circuit" class={state.circuit === "closed" ? "" : "bad"}>
            {state.circuit.replace("_", " ")}
          </dd>
        </div>
        <div class="wide">
          <dt>Azure left</dt>
          <dd title="x-ratelimit-remaining-tokens / -requests from Azure's last answer">
            {formatCount(state.azure_remaining.tokens)} tok · {formatCount(state.azure_remaining.requests)} req
          </dd>
        </div>
      </dl>

      {state.last_error && (
        <p class="last-error muted" title={new Date(state.last_error.at).toISOString()}>
          last error: {state.last_error.message}
        </p>
      )}
      {failure && (
        <p class="action-error" role="alert">
          {failure}
        </p>
      )}

      <footer class="card-actions">
        <button type="button" data-role="reset" disabled={busy} onClick={() => run(() => resetInstance(instance.name))} title="Clear circuit, cooldown, failure counters and limiter window">
          Reset
        </button>
        {instance.drift.length > 0 && (
          <button type="button" data-role="revert" disabled={busy} onClick={() => run(() => clearOverrides(instance.name))} title="Drop runtime overrides and use the YAML values">
            Back to YAML
          </button>
        )}
      </footer>
    </article>
  );
}

function Drift({ file }: { file: string }) {
  return (
    <span class="drift" data-role="drift" title={`differs from the YAML, which says ${file}`}>
      ≠ YAML {file}
    </span>
  );
}

/**
 * Holds what the operator types as a draft: the card re-renders every second with live figures, and a
 * plain controlled input would be reset to the server's value mid-typing. Enter or leaving the field
 * commits a valid change; Escape or an invalid value goes back to the server's value.
 */
function NumberField(props: { label: string; value: number; drift: number | undefined; disabled: boolean; onCommit: (value: number) => void }) {
  const [draft, setDraft] = useState<string | null>(null);
  const commit = () => {
    if (draft === null) return;
    const value = Number(draft);
    setDraft(null);
    if (draft.trim() !== "" && Number.isFinite(value) && value >= 0 && value !== props.value) props.onCommit(value);
  };
  return (
    <label class="number-field">
      <span>{props.label}</span>
      <input
        type="number"
        min="0"
        step="1"
        data-role={props.label}
        value={draft ?? String(props.value)}
        disabled={props.disabled}
        onInput={(event) => setDraft(event.currentTarget.value)}
        onChange={commit}
        onKeyDown={(event) => {
          if (event.key === "Escape") setDraft(null);
        }}
      />
      {props.drift !== undefined && <Drift file={String(props.drift)} />}
    </label>
  );
}

function Meter(props: { label: string; used: number; limit: number | null; drift: number | null | undefined }) {
  const share = shareOf(props.used, props.limit);
  const level = share === null ? "" : share >= 0.9 ? "hot" : share >= 0.7 ? "warm" : "";
  return (
    <div class="meter" data-role={`meter-${props.label.toLowerCase()}`}>
      <div class="meter-label">
        <span>{props.label}</span>
        <span class="muted">
          {formatCount(props.used)} / {props.limit === null ? "no limit" : formatCount(props.limit)}
          {share !== null && ` · ${formatPercent(share)}`}
        </span>
        {props.drift !== undefined && <Drift file={props.drift === null ? "none" : String(props.drift)} />}
      </div>
      <div class="meter-track" role="meter" aria-label={props.label} aria-valuemin={0} aria-valuemax={1} aria-valuenow={share ?? 0}>
        <div class={`meter-fill ${level}`} style={{ width: `${Math.round((share ?? 0) * 100)}%` }} />
      </div>
    </div>
  );
}
