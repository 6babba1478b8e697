import { describe, expect, it } from "bun:test";
import { exceedsJsonDepth } from "../../server/proxy/json-depth.ts";
import { parseProxyRequest } from "../../server/proxy/read-request.ts";
import { countInPieces, countWithinBudget } from "../../server/tokens/bounded-count.ts";
import { countTextTokens, loadTokenCounter } from "../../server/tokens/count.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("exceedsJsonDepth", () => {
  it("counts arrays and objects, not brackets inside strings or escaped quotes", () => {
    expect(exceedsJsonDepth(`${"[".repeat(3)}${"]".repeat(3)}`.padEnd(10), 3)).toBe(false);
    expect(exceedsJsonDepth(`${"[".repeat(4)}${"]".repeat(4)}`, 3)).toBe(true);
    expect(exceedsJsonDepth(`{"a":{"b":{"c":{}}}}`, 3)).toBe(true);
    expect(exceedsJsonDepth(`{"a":"[[[[[[[[{{{{{{"}`, 3)).toBe(false);
    expect(exceedsJsonDepth(`{"a":"\\"[[[[[[[[","b":1}`, 3)).toBe(false);
    expect(exceedsJsonDepth(`{"a":"\\\\",  "b":[[[1]]]}`, 3)).toBe(true);
    expect(exceedsJsonDepth(`{"é":"ünïcödé [[[[[[", "b":[[1]]}`, 3)).toBe(false);
    expect(exceedsJsonDepth(`{"é":"ü", "b":[[[{"ä":1}]]]}`, 3)).toBe(true);
  });

  it("refuses a body nested deeper than 128 levels with 400 before parsing it", () => {
    const deep = `{"model":"gpt-4o","messages":[],"x":${"[".repeat(128)}${"]".repeat(128)}}`;
    expect(() => parseProxyRequest("chat/completions", bytes(deep))).toThrow("The JSON body nests deeper than 128 levels.");
    const fits = `{"model":"gpt-4o","messages":[],"x":${"[".repeat(126)}${"]".repeat(126)}}`;
    expect(parseProxyRequest("chat/completions", bytes(fits)).model).toBe("gpt-4o");
  });
});

describe("countInPieces", () => {
  it("counts ordinary text exactly as counted whole", async () => {
    const count = await loadTokenCounter("gpt-4o");
    const text = Array.from({ length: 3000 }, (_, i) => `word${i % 97} and, some more; punctuation.`).join(" ");
    const { countTokens } = await import("gpt-tokenizer/encoding/o200k_base");
    expect(count(text)).toBe(countTokens(text));
    expect(countInPieces(text, (piece) => countTokens(piece), 256)).toBe(countTokens(text));
  });

  it("cuts a string without spaces into pieces of the maximum size", () => {
    const pieces: number[] = [];
    countInPieces("x".repeat(2500), (piece) => pieces.push(piece.length), 1000);
    expect(pieces).toEqual([1000, 1000, 500]);
  });

  it("keeps a long run of letters linear: 300,000 characters in well under a second", async () => {
    const letters = Array.from({ length: 300_000 }, (_, i) => String.fromCharCode(97 + ((i * 7919) % 26))).join("");
    await countTextTokens("warm up", "gpt-4o");
    const startedAt = performance.now();
    expect(await countTextTokens(letters, "gpt-4o")).toBeGreaterThan(10_000);
    expect(performance.now() - startedAt).toBeLessThan(1000);
  });
});

describe("countWithinBudget", () => {
  it("counts exactly up to the budget, then extrapolates at the rate seen", () => {
    const calls: string[] = [];
    // Two characters per token.
    const count = countWithinBudget((text) => {
      calls.push(text);
      return text.length / 2;
    }, 10);
    expect(count("abcdef")).toBe(3);
    expect(count("ghijklmnop")).toBe(5);
    expect(count("qrstuvwxyz")).toBe(5);
    expect(calls).toEqual(["abcdef", "ghij"]);
  });

  it("assumes one token per character when the budget is zero", () => {
    expect(countWithinBudget(() => 0, 0)("abcd")).toBe(4);
  });
});
