// Command-line arguments: --config DIR (also -config DIR, --config=DIR, or CONFIG_DIR) and --demo.

export type CliOptions = { configDir: string; configExplicit: boolean; demo: boolean };

export function parseCliArgs(argv: readonly string[], env: Record<string, string | undefined>): CliOptions {
  let configDir: string | undefined;
  let demo = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--config" || arg === "-config") {
      configDir = argv[++i];
      if (configDir === undefined || configDir.startsWith("-")) throw new Error(`${arg} needs a directory`);
    } else if (arg.startsWith("--config=") || arg.startsWith("-config=")) {
      configDir = arg.slice(arg.indexOf("=") + 1);
    } else if (arg === "--demo") {
      demo = true;
    } else {
      throw new Error(`unknown argument: ${arg}`);
    }
  }
  const fromEnv = env.CONFIG_DIR || undefined;
  return { configDir: configDir ?? fromEnv ?? "configs", configExplicit: (configDir ?? fromEnv) !== undefined, demo };
}
