// Short human forms for numbers, durations and times. Pure.

export function formatCount(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${trim(value / 1e9)}G`;
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e4) return `${trim(value / 1e3)}k`;
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(abs < 10 ? 1 : 0);
}

function trim(value: number): string {
  return value.toFixed(value >= 100 ? 0 : 1).replace(/\.0$/, "");
}

export function formatMs(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  if (value >= 10_000) return `${(value / 1000).toFixed(0)} s`;
  if (value >= 1000) return `${(value / 1000).toFixed(1)} s`;
  return `${Math.round(value)} ms`;
}

export function formatPercent(share: number | null | undefined): string {
  if (share === null || share === undefined) return "–";
  return `${Math.round(share * 100)}%`;
}

export function formatClock(epochMs: number): string {
  const date = new Date(epochMs);
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((part) => String(part).padStart(2, "0")).join(":");
}

/** Axis label for "seconds before now": 0 → "now", -120 → "-2m". */
export function formatSecondsAgo(seconds: number): string {
  if (seconds === 0) return "now";
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

export function formatCountdown(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, "0")}s`;
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/** "14:05", or "Tue 14:05" when a chart spans several days. Local time. */
export function formatBucketTime(epochMs: number, withWeekday: boolean): string {
  const date = new Date(epochMs);
  const time = `${String(date.getHours()).padStart(2, "0")}:${String(date.getMinutes()).padStart(2, "0")}`;
  return withWeekday ? `${WEEKDAYS[date.getDay()]} ${time}` : time;
}
