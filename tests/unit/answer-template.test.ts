// The simulator's prepared answers: filling in a template must equal building the answer afresh.
import { describe, expect, it } from "bun:test";
import { createAnswerTemplate } from "../../server/simulator/answer-template.ts";
import { buildChatCompletion, buildChatStreamFrames } from "../../server/simulator/azure-wire-bodies.ts";

describe("answer templates", () => {
  it("renders a stream byte-for-byte as a fresh build with the same id and time would", () => {
    const build = (id: string, created: number) =>
      buildChatStreamFrames({ id: `chatcmpl-${id}`, model: "gpt-4o", created, pieces: ["a", " b"], includeUsage: true, promptTokens: 4 }).join("");
    const template = createAnswerTemplate(build);
    expect(template("abc1", 1_730_000_000)).toBe(build("abc1", 1_730_000_000));
    expect(template("zz9", 1_730_000_123)).toBe(build("zz9", 1_730_000_123));
  });

  it("renders a JSON body the same way", () => {
    const build = (id: string, created: number) =>
      JSON.stringify(buildChatCompletion({ id: `chatcmpl-${id}`, model: "m", created, content: "hi", promptTokens: 1, completionTokens: 1 }));
    expect(createAnswerTemplate(build)("q1", 42)).toBe(build("q1", 42));
  });
});
