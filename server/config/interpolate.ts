// ${VAR} and ${VAR:-default} substitution over a parsed YAML tree, reporting which variables were missing where.

export type MissingVariable = { path: string; variable: string };
export type Interpolated = { value: unknown; missing: MissingVariable[] };

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Substitutes in the parsed tree rather than the YAML text, so a variable's value can never
 * inject YAML structure (a key with a newline or a colon stays one string).
 */
export function interpolateTree(
  tree: unknown,
  env: Record<string, string | undefined>,
  path = "",
): Interpolated {
  const missing: MissingVariable[] = [];
  const walk = (node: unknown, at: string): unknown => {
    if (typeof node === "string") return interpolateString(node, env, at, missing);
    if (Array.isArray(node)) return node.map((item, index) => walk(item, `${at}[${index}]`));
    if (node !== null && typeof node === "object") {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) out[key] = walk(child, at ? `${at}.${key}` : key);
      return out;
    }
    return node;
  };
  return { value: walk(tree, path), missing };
}

function interpolateString(
  text: string,
  env: Record<string, string | undefined>,
  path: string,
  missing: MissingVariable[],
): string {
  return text.replace(PLACEHOLDER, (_match, variable: string, fallback: string | undefined) => {
    const value = env[variable];
    if (value !== undefined && value !== "") return value;
    if (fallback !== undefined) return fallback;
    missing.push({ path, variable });
    return "";
  });
}
