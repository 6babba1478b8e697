// Log lines to stdout gathered per event-loop turn and written together: one write call for every line a turn
// produced instead of one each. Lines still buffered when the process exits (process.exit, a signal handler's
// exit, an uncaught error) are written synchronously on the way out.
import { writeSync } from "node:fs";

export type LineWriter = ((line: string) => void) & { flush(): void };

let stdoutWriter: LineWriter | undefined;

/** The process has one stdout: every logger without its own `write` shares one buffer, so lines keep their order. */
export function sharedStdoutWriter(): LineWriter {
  stdoutWriter ??= createBufferedStdout();
  return stdoutWriter;
}

export function createBufferedStdout(write: (text: string) => void = (text) => process.stdout.write(text)): LineWriter {
  let buffer = "";
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (buffer === "") return;
    const text = buffer;
    buffer = "";
    write(text);
  };
  process.on("exit", () => {
    if (buffer === "") return;
    const text = buffer;
    buffer = "";
    // No event loop is left to finish an asynchronous write.
    writeSync(1, text);
  });
  const writer = (line: string) => {
    buffer += `${line}\n`;
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  writer.flush = flush;
  return writer;
}
