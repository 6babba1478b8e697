// Waits for a condition by polling it, so tests never sleep a guessed amount of time.

export type UntilOptions = { timeoutMs?: number; intervalMs?: number; message?: string };

export async function until(predicate: () => boolean | Promise<boolean>, options: UntilOptions = {}): Promise<void> {
  const { timeoutMs = 3000, intervalMs = 10 } = options;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await predicate()) return;
      lastError = undefined;
    } catch (error) {
      // A predicate that throws (e.g. indexing a record not there yet) counts as "not yet".
      lastError = error;
    }
    if (performance.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const what = options.message ?? predicate.toString();
  const why = lastError === undefined ? "" : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
  throw new Error(`until: condition not met within ${timeoutMs} ms: ${what}${why}`);
}
