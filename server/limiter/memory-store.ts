// The in-process LimiterStore: the embedded default, and the fallback while Redis is unreachable.
import { reserveAcross } from "./reserve.ts";
import type { AdjustCommand, LimiterStore, ReserveCommand, ReserveReply } from "./store.ts";
import { MINUTE_WINDOW, adjustWindow, createSubjectWindow, type SubjectWindow, type WindowParams } from "./window.ts";

export type MemoryStoreOptions = { now?: () => number; window?: WindowParams };

export class MemoryStore implements LimiterStore {
  readonly kind = "memory";
  // Keys come from configured instances and client keys only, so the map stays as small as the config.
  private readonly windows = new Map<string, SubjectWindow>();
  private readonly now: () => number;
  private readonly params: WindowParams;

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.params = options.window ?? MINUTE_WINDOW;
  }

  reserve(command: ReserveCommand): Promise<ReserveReply> {
    return Promise.resolve(this.reserveNow(command));
  }

  /** reserve without the promise: the limiter answers a request counted in process at once. */
  reserveNow(command: ReserveCommand): ReserveReply {
    return reserveAcross(command, (key) => this.windowOf(key), this.now(), this.params);
  }

  adjust(command: AdjustCommand): Promise<void> {
    const nowMs = this.now();
    for (const key of command.keys) adjustWindow(this.windowOf(key), command.bucket, command.delta, nowMs, this.params);
    return Promise.resolve();
  }

  clear(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.windows.delete(key);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.windows.clear();
    return Promise.resolve();
  }

  private windowOf(key: string): SubjectWindow {
    let window = this.windows.get(key);
    if (!window) {
      window = createSubjectWindow();
      this.windows.set(key, window);
    }
    return window;
  }
}
