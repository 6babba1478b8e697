// Which rollups answer a window, and how a time series is bucketed: pure functions of the window and `now`.
import type { RollupBucketSec } from "./rows.ts";

export const DEFAULT_WINDOW_MINUTES = 60;
/** 30 days: the longest window a query may ask for. */
export const MAX_WINDOW_MINUTES = 43_200;
/** Beyond a day the window starts on the hour: per-minute rollups may already be past their retention. */
const MINUTE_START_MAX_WINDOW_MINUTES = 1440;

/** Point widths of a time series: the smallest that keeps it at or under MAX_POINTS points. */
const POINT_SECONDS = [60, 3600, 21_600, 86_400] as const;
const MAX_POINTS = 360;

/** Rollups with `bucketSec` whose start lies in [fromSec, toSec). */
export type RollupRange = { bucketSec: RollupBucketSec; fromSec: number; toSec: number };

export type SummaryWindow = { fromSec: number; ranges: RollupRange[] };

/**
 * The last `windowMinutes` minutes including the current one, read as per-minute rollups at both ends
 * and per-hour rollups for the whole hours between: exact to the minute, yet long windows stay cheap.
 */
export function planSummaryWindow(windowMinutes: number, nowMs: number): SummaryWindow {
  const endSec = floorTo(Math.floor(nowMs / 1000), 60) + 60;
  let fromSec = endSec - windowMinutes * 60;
  if (windowMinutes > MINUTE_START_MAX_WINDOW_MINUTES) fromSec = floorTo(fromSec, 3600);
  const firstHourSec = Math.ceil(fromSec / 3600) * 3600;
  const lastHourSec = floorTo(endSec - 60, 3600);
  if (firstHourSec >= lastHourSec) return { fromSec, ranges: [{ bucketSec: 60, fromSec, toSec: endSec }] };
  const ranges: RollupRange[] = [
    { bucketSec: 60, fromSec, toSec: firstHourSec },
    { bucketSec: 3600, fromSec: firstHourSec, toSec: lastHourSec },
    { bucketSec: 60, fromSec: lastHourSec, toSec: endSec },
  ];
  return { fromSec, ranges: ranges.filter((range) => range.fromSec < range.toSec) };
}

export type SeriesWindow = { sourceBucketSec: RollupBucketSec; pointSec: number; fromSec: number; points: number[] };

/** Point start times (Unix seconds), oldest first; the last point is the current, partial one. */
export function planSeriesWindow(windowMinutes: number, nowMs: number): SeriesWindow {
  const windowSec = windowMinutes * 60;
  const pointSec = POINT_SECONDS.find((seconds) => windowSec / seconds <= MAX_POINTS) ?? 86_400;
  const count = Math.ceil(windowSec / pointSec);
  const lastSec = floorTo(Math.floor(nowMs / 1000), pointSec);
  const points = Array.from({ length: count }, (_, index) => lastSec - (count - 1 - index) * pointSec);
  return { sourceBucketSec: pointSec >= 3600 ? 3600 : 60, pointSec, fromSec: points[0] ?? lastSec, points };
}

function floorTo(value: number, step: number): number {
  return Math.floor(value / step) * step;
}
