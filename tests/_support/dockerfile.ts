// A small Dockerfile reader for tests: instructions with their flags and arguments, continuations joined, comments dropped.

export type DockerInstruction = {
  instruction: string;
  /** `--from=deps` → { from: "deps" } */
  flags: Record<string, string>;
  /** Exec form (`["a","b"]`) parsed as JSON; shell form split on whitespace. */
  args: string[];
  /** The arguments as written, after the flags. */
  raw: string;
};

export function parseDockerfile(text: string): DockerInstruction[] {
  const lines: string[] = [];
  let pending = "";
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (pending === "" && (trimmed === "" || trimmed.startsWith("#"))) continue;
    if (trimmed.startsWith("#")) continue;
    if (trimmed.endsWith("\\")) {
      pending += `${trimmed.slice(0, -1)} `;
      continue;
    }
    lines.push(pending + trimmed);
    pending = "";
  }
  if (pending !== "") lines.push(pending.trim());
  return lines.map((line) => {
    const [word = "", ...restWords] = line.split(/\s+/);
    let rest = restWords.join(" ");
    const flags: Record<string, string> = {};
    for (let match = /^--([\w-]+)=(\S+)\s*/.exec(rest); match; match = /^--([\w-]+)=(\S+)\s*/.exec(rest)) {
      flags[match[1]!] = match[2]!;
      rest = rest.slice(match[0].length);
    }
    const args = rest.startsWith("[") ? (JSON.parse(rest) as string[]) : rest.split(/\s+/).filter(Boolean);
    return { instruction: word.toUpperCase(), flags, args, raw: rest };
  });
}
