// The embedded default: simulated Azure instances on loopback, so the proxy runs with no Azure account and no Redis.
import type { Config, InstanceConfig } from "./config/schema.ts";
import { startAzureSimulator } from "./simulator/azure-simulator.ts";

const DEMO_API_KEY = "demo-simulator-key";
const DEMO_MODELS = ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"];

/** Two regions with different capacity, so fail-over and 429s can be watched under modest load. */
const DEMO_REGIONS = [
  { name: "sim-eastus", region: "East US", maxTpm: 40_000, priority: 1, weight: 10 },
  { name: "sim-westeurope", region: "West Europe", maxTpm: 20_000, priority: 2, weight: 5 },
] as const;

export type Demo = { config: Readonly<Config>; stop(): Promise<void> };

export async function startDemo(base: Readonly<Config>): Promise<Demo> {
  const simulators = await Promise.all(
    DEMO_REGIONS.map((region) =>
      startAzureSimulator({
        apiKey: DEMO_API_KEY,
        region: region.region,
        maxTpm: region.maxTpm,
        latencyMs: 120,
        tokenIntervalMs: 25,
      }),
    ),
  );
  const instances: InstanceConfig[] = DEMO_REGIONS.map((region, index) => ({
    name: region.name,
    provider_type: "azure",
    api_key: DEMO_API_KEY,
    api_base: simulators[index]?.url ?? "",
    api_version: "2024-10-21",
    priority: region.priority,
    weight: region.weight,
    max_tpm: region.maxTpm,
    supported_models: DEMO_MODELS,
    model_deployments: {},
    enabled: true,
  }));
  return {
    config: Object.freeze({ ...base, instances }),
    stop: async () => {
      await Promise.all(simulators.map((simulator) => simulator.stop()));
    },
  };
}
