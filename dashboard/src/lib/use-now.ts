// Re-renders the caller every `intervalMs` with the current time, for countdowns.
import { useEffect, useState } from "preact/hooks";

export function useNow(intervalMs: number): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
