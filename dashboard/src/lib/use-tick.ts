// Re-renders the caller every `intervalMs`, for countdowns that read the clock while rendering.
import { useEffect, useState } from "preact/hooks";

export function useTick(intervalMs: number): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((tick) => tick + 1), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
}
