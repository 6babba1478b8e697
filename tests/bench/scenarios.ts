// What the benchmark sends: three request shapes, and the address and headers each target expects for them.

export const SCENARIOS = ["chat", "stream", "embeddings"] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
export const TARGETS = ["direct", "pass-through", "proxy"] as const;
export type TargetName = (typeof TARGETS)[number];

export const API_VERSION = "2024-10-21";
export const SIMULATOR_API_KEY = "bench-simulator-key";
/** A stream without usage is prelude + role + pieces + finish + [DONE]: 46 pieces make the 50 frames the brief asks for. */
export const STREAM_FRAMES = 50;
export const COMPLETION_TOKENS = STREAM_FRAMES - 4;
export const EMBEDDING_DIMENSIONS = 1536;
const CHAT_BODY_BYTES = 1024;

export type Scenario = {
  name: ScenarioName;
  label: string;
  deployment: string;
  operation: "chat/completions" | "embeddings";
  stream: boolean;
  body: string;
};

export type TargetRequest = { url: string; headers: Record<string, string>; body: string };

const FILLER =
  "Summarise the following incident report for an on-call engineer in three short bullet points, naming the failing component, " +
  "the customer impact and the next action. The report: at 02:14 UTC the ingestion workers began retrying uploads against the " +
  "storage account after a certificate rotation; retries saturated the queue and delayed indexing for roughly forty minutes. ";

/** A chat body of exactly CHAT_BODY_BYTES, padded with plain ASCII so JSON escaping cannot change its size. */
function chatBody(stream: boolean): string {
  const build = (content: string) =>
    JSON.stringify({
      model: "gpt-4o",
      messages: [
        { role: "system", content: "You are a concise assistant for an operations team." },
        { role: "user", content },
      ],
      temperature: 0.2,
      ...(stream ? { stream: true } : {}),
    });
  const room = CHAT_BODY_BYTES - build("").length;
  return build(FILLER.repeat(Math.ceil(room / FILLER.length)).slice(0, room));
}

export function buildScenarios(): Scenario[] {
  return [
    { name: "chat", label: "chat (1 KB in)", deployment: "gpt-4o", operation: "chat/completions", stream: false, body: chatBody(false) },
    { name: "stream", label: `stream (${STREAM_FRAMES} frames)`, deployment: "gpt-4o", operation: "chat/completions", stream: true, body: chatBody(true) },
    {
      name: "embeddings",
      label: `embeddings (${EMBEDDING_DIMENSIONS} floats)`,
      deployment: "text-embedding-3-small",
      operation: "embeddings",
      stream: false,
      body: JSON.stringify({
        model: "text-embedding-3-small",
        input: "The ingestion workers retried uploads after a certificate rotation.",
        encoding_format: "float",
      }),
    },
  ];
}

/** The simulator and the pass-through speak Azure's deployment form; the proxy is called the way an OpenAI SDK calls it. */
export function requestFor(scenario: Scenario, target: TargetName, baseUrl: string): TargetRequest {
  if (target === "proxy") {
    return { url: `${baseUrl}/v1/${scenario.operation}`, headers: { "content-type": "application/json" }, body: scenario.body };
  }
  return {
    url: `${baseUrl}/openai/deployments/${scenario.deployment}/${scenario.operation}?api-version=${API_VERSION}`,
    headers: { "content-type": "application/json", "api-key": SIMULATOR_API_KEY },
    body: scenario.body,
  };
}
