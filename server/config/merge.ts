// Deep merge of config layers (base, then environment), instances matched by name, remembering which file set each value.

export type ConfigLayer = { file: string; data: unknown };
export type MergedLayers = { data: Record<string, unknown>; sourceOf: (path: string) => string };

/** Arrays of named items are merged by `name` so an environment file can adjust one instance without restating the list. */
const MERGE_BY_NAME = new Set(["instances", "auth.api_keys"]);

export function mergeConfigLayers(layers: ConfigLayer[]): MergedLayers {
  const sources = new Map<string, string>();
  let data: Record<string, unknown> = {};
  for (const layer of layers) {
    if (layer.data === null || layer.data === undefined) continue;
    data = mergeNode(data, layer.data, "", layer.file, sources) as Record<string, unknown>;
  }
  const fallback = layers[0]?.file ?? "config";
  const sourceOf = (path: string): string => {
    // A path with no recorded leaf (a missing key) belongs to the file that defined its nearest parent.
    for (let at = path; at !== ""; at = parentPath(at)) {
      const file = sources.get(at);
      if (file) return file;
    }
    return fallback;
  };
  return { data, sourceOf };
}

function mergeNode(base: unknown, overlay: unknown, path: string, file: string, sources: Map<string, string>): unknown {
  if (isPlainObject(overlay) && isPlainObject(base)) {
    const out: Record<string, unknown> = { ...base };
    for (const [key, value] of Object.entries(overlay)) {
      const childPath = path ? `${path}.${key}` : key;
      out[key] = mergeNode(base[key], value, childPath, file, sources);
    }
    if (path) sources.set(path, sources.get(path) ?? file);
    return out;
  }
  if (Array.isArray(overlay) && Array.isArray(base) && MERGE_BY_NAME.has(path)) {
    return mergeNamedLists(base, overlay, path, file, sources);
  }
  recordTree(overlay, path, file, sources);
  return overlay;
}

function mergeNamedLists(
  base: unknown[],
  overlay: unknown[],
  path: string,
  file: string,
  sources: Map<string, string>,
): unknown[] {
  const out = [...base];
  for (const item of overlay) {
    const name = isPlainObject(item) ? item.name : undefined;
    const index = name === undefined ? -1 : out.findIndex((existing) => isPlainObject(existing) && existing.name === name);
    if (index === -1) {
      recordTree(item, `${path}[${out.length}]`, file, sources);
      out.push(item);
    } else {
      out[index] = mergeNode(out[index], item, `${path}[${index}]`, file, sources);
    }
  }
  return out;
}

function recordTree(node: unknown, path: string, file: string, sources: Map<string, string>): void {
  if (path) sources.set(path, file);
  if (Array.isArray(node)) node.forEach((item, index) => recordTree(item, `${path}[${index}]`, file, sources));
  else if (isPlainObject(node)) {
    for (const [key, value] of Object.entries(node)) recordTree(value, path ? `${path}.${key}` : key, file, sources);
  }
}

function parentPath(path: string): string {
  const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
  return cut <= 0 ? "" : path.slice(0, cut);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
