// What starts a reload besides POST /admin/reload: SIGHUP, and (config.watch) a change to the loaded YAML files.
import { watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import { ProxyError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { InvalidConfigError } from "./service.ts";

export type Reload = () => Promise<{ instances: string[] }>;

/** Runs a reload for a trigger that has no HTTP caller to answer: the outcome goes to the log. */
export async function reloadAndLog(reload: Reload, trigger: string, logger: Logger): Promise<void> {
  try {
    await reload();
  } catch (error) {
    if (error instanceof InvalidConfigError) {
      logger.error("config reload rejected: the running configuration is kept", { trigger, problems: error.problems });
    } else if (error instanceof ProxyError) {
      logger.error("config reload refused", { trigger, reason: error.message });
    } else {
      logger.error("config reload failed", { trigger, error });
    }
  }
}

/**
 * Watches the directories holding the files (editors replace a file by renaming, which a watch on the file
 * itself loses) and reloads once the writes settle.
 */
export function watchConfigFiles(files: readonly string[], onChange: () => void, settleMs = 200): { close(): void } {
  const names = new Set(files.map((file) => file.split("/").pop()));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchers: FSWatcher[] = [];
  for (const directory of new Set(files.map((file) => dirname(file)))) {
    const watcher = watch(directory, (_event, name) => {
      if (name !== null && !names.has(name)) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, settleMs);
    });
    watcher.on("error", () => {});
    watchers.push(watcher);
  }
  return {
    close() {
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
