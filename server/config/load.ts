// Reads DIR/base.yaml and DIR/$ENVIRONMENT.yaml (or the copies embedded in the binary), then interpolates, merges and validates.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import embeddedBase from "../../configs/base.yaml" with { type: "text" };
import embeddedProduction from "../../configs/production.yaml" with { type: "text" };
import { interpolateTree } from "./interpolate.ts";
import { mergeConfigLayers, type ConfigLayer } from "./merge.ts";
import { validateConfig, type ConfigProblem } from "./validate.ts";
import type { Config } from "./schema.ts";

const EMBEDDED: Record<string, string> = { "base.yaml": embeddedBase, "production.yaml": embeddedProduction };

export type ConfigSource = {
  /** Directory holding base.yaml; when not explicit and absent on disk, the embedded copies are used. */
  dir: string;
  explicit: boolean;
  env: Record<string, string | undefined>;
};

export type LoadedConfig = { config: Readonly<Config>; warnings: string[]; files: string[] };

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"})`);
    this.name = "ConfigError";
  }
}

export async function loadConfig(source: ConfigSource): Promise<LoadedConfig> {
  const fromDisk = source.explicit || existsSync(join(source.dir, "base.yaml"));
  const environment = source.env.ENVIRONMENT;
  const names = ["base.yaml", ...(environment ? [`${environment}.yaml`] : [])];
  const layers: ConfigLayer[] = [];
  const problems: ConfigProblem[] = [];
  for (const [position, name] of names.entries()) {
    const file = fromDisk ? join(source.dir, name) : `(embedded) configs/${name}`;
    const text = fromDisk ? await readIfPresent(file) : EMBEDDED[name];
    if (text === undefined) {
      // base.yaml is required; an environment file is optional.
      if (position === 0) problems.push({ file, path: "(file)", reason: "not found" });
      continue;
    }
    try {
      layers.push({ file, data: parseYaml(text) ?? {} });
    } catch (error) {
      const reason = error instanceof YAMLParseError ? error.message.split("\n")[0] ?? "invalid YAML" : "invalid YAML";
      problems.push({ file, path: "(file)", reason });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const merged = mergeConfigLayers(layers);
  const { value, missing } = interpolateTree(merged.data, source.env);
  const data = value as Record<string, unknown>;
  const sourceOf = (path: string) => (path === "port" && source.env.PORT ? "PORT (environment)" : merged.sourceOf(path));
  if (source.env.PORT) data.port = /^\d+$/.test(source.env.PORT) ? Number(source.env.PORT) : source.env.PORT;

  const result = validateConfig(data, missing, sourceOf);
  if (!result.ok) throw new ConfigError(result.problems);
  return { config: result.config, warnings: result.warnings, files: layers.map((layer) => layer.file) };
}

async function readIfPresent(file: string): Promise<string | undefined> {
  const handle = Bun.file(file);
  return (await handle.exists()) ? handle.text() : undefined;
}
