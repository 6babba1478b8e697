// The benchmark's upstream in its own process: the product's Azure simulator with no latency and unpaced streams.
import { startAzureSimulator } from "../../server/simulator/azure-simulator.ts";

const simulator = await startAzureSimulator({
  apiKey: process.env.SIM_API_KEY ?? "bench-key",
  latencyMs: 0,
  tokenIntervalMs: 0,
  completionTokens: Number(process.env.SIM_COMPLETION_TOKENS ?? "46"),
  embeddingDimensions: Number(process.env.SIM_EMBEDDING_DIMENSIONS ?? "1536"),
});
console.log(JSON.stringify({ msg: "listening", url: simulator.url }));

process.on("SIGTERM", () => {
  void simulator.stop().finally(() => process.exit(0));
});
