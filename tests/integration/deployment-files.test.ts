// The Dockerfile, docker-compose.yml and Kubernetes example, checked without Docker: parsed, and every path they use exists.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import packageJson from "../../package.json";
import { loadConfig } from "../../server/config/load.ts";
import { createLifecycle } from "../../server/lifecycle.ts";
import { parseDockerfile, type DockerInstruction } from "../_support/dockerfile.ts";
import { REPO_ROOT, runToExit } from "../_support/process.ts";
import { startProxy } from "../_support/proxy.ts";

// bunfig.toml has no per-test timeout setting: child processes and servers on a busy 2-core machine need more than 5 s.
setDefaultTimeout(20_000);

const read = (path: string) => readFileSync(join(REPO_ROOT, path), "utf8");

/** Stages of a multi-stage Dockerfile, each from its FROM to the next. */
function stagesOf(instructions: DockerInstruction[]) {
  const stages: Array<{ name: string | null; image: string; body: DockerInstruction[] }> = [];
  for (const instruction of instructions) {
    if (instruction.instruction === "FROM") {
      const [image = "", as, name] = instruction.args;
      stages.push({ image, name: as?.toUpperCase() === "AS" ? (name ?? null) : null, body: [] });
    } else {
      stages.at(-1)?.body.push(instruction);
    }
  }
  return stages;
}

/** The .dockerignore patterns this repository uses: plain names or globs, a leading double-star directory, `!` exceptions. */
function isDockerIgnored(path: string): boolean {
  let ignored = false;
  for (const line of read(".dockerignore").split("\n")) {
    const pattern = line.trim();
    if (pattern === "" || pattern.startsWith("#")) continue;
    const negated = pattern.startsWith("!");
    const name = (negated ? pattern.slice(1) : pattern).replace(/^\*\*\//, "");
    const glob = new Bun.Glob(name);
    const parts = path.split("/");
    const matches = parts.some((_, index) => glob.match(parts.slice(0, index + 1).join("/")) || glob.match(parts[index]!));
    if (matches) ignored = !negated;
  }
  return ignored;
}

describe("Dockerfile", () => {
  const instructions = parseDockerfile(read("Dockerfile"));
  const stages = stagesOf(instructions);
  const runtime = stages.at(-1)!;

  it("builds every stage on the official Bun image and installs only production dependencies from the lockfile", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.image).toMatch(/^oven\/bun:/);
    const installs = instructions.filter((instruction) => instruction.instruction === "RUN" && instruction.raw.includes("bun install"));
    expect(installs.length).toBe(1);
    expect(installs[0]!.raw).toContain("--production");
    expect(installs[0]!.raw).toContain("--frozen-lockfile");
  });

  it("copies only paths that exist and the build context keeps, and stages that are defined", () => {
    expect([".env", "tests", "dashboard/node_modules", "data/stats.db", ".env.example", "server"].map(isDockerIgnored)).toEqual([true, true, true, true, false, false]);
    const copies = instructions.filter((instruction) => instruction.instruction === "COPY" || instruction.instruction === "ADD");
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const sources = copy.args.slice(0, -1);
      if (copy.flags.from) {
        expect(stages.map((stage) => stage.name)).toContain(copy.flags.from);
        continue;
      }
      for (const source of sources) {
        expect({ source, exists: existsSync(join(REPO_ROOT, source)) }).toEqual({ source, exists: true });
        expect({ source, ignored: isDockerIgnored(source) }).toEqual({ source, ignored: false });
      }
    }
  });

  it("builds the single binary with the build script from the copied sources, and ships only it and configs/", async () => {
    const build = stages[0]!;
    expect(build.body.some((instruction) => instruction.instruction === "RUN" && instruction.raw === "bun run build")).toBe(true);
    expect(packageJson.scripts.build).toContain("dist/azure-openai-proxy");
    const workdir = build.body.find((instruction) => instruction.instruction === "WORKDIR")!.args[0];
    const binary = runtime.body.find((instruction) => instruction.instruction === "COPY" && instruction.flags.from === build.name)!;
    expect(binary.args).toEqual([`${workdir}/dist/azure-openai-proxy`, "/usr/local/bin/azure-openai-proxy"]);
    const shipped = runtime.body.filter((instruction) => instruction.instruction === "COPY" && !instruction.flags.from).map((instruction) => instruction.args);
    expect(shipped).toEqual([["configs", "./configs"]]);
    // Every file of ours the server and the build script import (configs and migrations it embeds included) is in the build context.
    const copied = build.body.filter((instruction) => instruction.instruction === "COPY").flatMap((instruction) => instruction.args.slice(0, -1));
    const scripts = packageJson.scripts.build.split(" ").filter((arg) => arg.endsWith(".ts"));
    const entrypoints = [...new Set(["server/main.ts", ...scripts])].map((path) => join(REPO_ROOT, path));
    const result = await Bun.build({ entrypoints, target: "bun", packages: "external", metafile: true });
    const inputs = Object.keys(result.metafile!.inputs).filter((path) => !path.includes("node_modules"));
    expect(inputs).toContain("drizzle/0000_init.sql");
    const missing = inputs.filter((path) => !copied.some((source) => path === source || path.startsWith(`${source}/`)) || isDockerIgnored(path));
    expect(missing).toEqual([]);
  });

  it("runs the binary as a non-root user with a health check on /health and honours PORT", () => {
    const last = (name: string) => runtime.body.filter((instruction) => instruction.instruction === name).at(-1);
    expect(last("USER")?.args[0]).toBeDefined();
    expect(["root", "0"]).not.toContain(last("USER")!.args[0]!);
    const healthcheck = last("HEALTHCHECK")!;
    expect(healthcheck.raw).toContain("/health");
    expect(healthcheck.raw).toContain("process.env.PORT");
    expect(last("ENV")?.raw).toContain("PORT=8080");
    expect(last("EXPOSE")?.args).toEqual(["8080"]);
    expect(last("CMD")!.args).toEqual(["azure-openai-proxy", "--config", "configs"]);
    // The stats database directory exists and belongs to that user.
    expect(runtime.body.some((instruction) => instruction.instruction === "RUN" && instruction.raw.includes("chown bun:bun /app/data"))).toBe(true);
  });

  it("has a health check command that passes against a serving proxy on PORT and fails once it drains", async () => {
    const healthcheck = runtime.body.find((instruction) => instruction.instruction === "HEALTHCHECK")!;
    const command = JSON.parse(healthcheck.raw.replace(/^CMD\s+/, "")) as string[];
    expect(command[0]).toBe("bun");
    const lifecycle = createLifecycle();
    await using proxy = await startProxy({ lifecycle, config: {} });
    const env = { PORT: String(proxy.port) };
    expect((await runToExit(command.slice(1), env, ["bun"])).exitCode).toBe(0);
    lifecycle.startDraining();
    expect((await runToExit(command.slice(1), env, ["bun"])).exitCode).toBe(1);
  });
});

describe("docker-compose.yml", () => {
  type Service = Record<string, unknown> & { environment?: Record<string, string>; profiles?: string[]; command?: string[] };
  const compose = parseYaml(read("docker-compose.yml")) as { services: Record<string, Service>; volumes: Record<string, unknown> };

  it("runs the proxy against a healthy Redis with append-only persistence, and redis-commander only behind a profile", () => {
    const { proxy, redis } = compose.services;
    expect(Object.keys(compose.services).sort()).toEqual(["proxy", "redis", "redis-commander"]);
    expect(proxy).toMatchObject({ build: ".", depends_on: { redis: { condition: "service_healthy" } } });
    expect(proxy!.environment?.REDIS_URL).toBe("redis://redis:6379");
    expect(redis!.command?.join(" ")).toContain("--appendonly yes");
    expect(redis).toMatchObject({ healthcheck: { test: ["CMD", "redis-cli", "ping"] } });
    expect(compose.services["redis-commander"]!.profiles).toEqual(["tools"]);
    expect(proxy!.profiles).toBeUndefined();
  });

  it("gives the proxy longer to stop than its drain, and mounts paths that exist", () => {
    const proxy = compose.services.proxy!;
    expect(Number(String(proxy.stop_grace_period).replace(/s$/, ""))).toBeGreaterThan(25);
    for (const volume of proxy.volumes as string[]) {
      const [source = ""] = volume.split(":");
      if (source.startsWith(".")) expect(existsSync(join(REPO_ROOT, source))).toBe(true);
      else expect(compose.volumes).toHaveProperty(source);
    }
  });
});

describe("Kubernetes example", () => {
  type Manifest = { kind: string; metadata: { name: string }; data?: Record<string, string>; stringData?: Record<string, string>; spec: any };
  const manifests = parseAllDocuments(read("deploy/kubernetes.yaml")).map((document) => document.toJS() as Manifest);
  const find = (kind: string, name: string) => manifests.find((manifest) => manifest.kind === kind && manifest.metadata.name === name)!;
  const deployment = find("Deployment", "azure-openai-proxy");
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  it("runs several replicas with readiness and liveness probes on /health and a grace period beyond the drain", async () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(container.readinessProbe.httpGet.path).toBe("/health");
    expect(container.livenessProbe.httpGet.path).toBe("/health");
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(deployment.spec.template.metadata.annotations["prometheus.io/path"]).toBe("/metrics");
    const preStopSeconds = Number(container.lifecycle.preStop.exec.command[1]);
    const config = await loadMountedConfig();
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds + config.shutdown.drain_seconds + 2);
    expect(container.ports[0].containerPort).toBe(config.port);
  });

  it("ships a configuration the proxy accepts, with every instance and key filled from the Secret, sharing the one Redis", async () => {
    const config = await loadMountedConfig();
    expect(config.instances.map((instance) => instance.name)).toEqual(["azure-primary", "azure-secondary"]);
    expect(config.auth.api_keys).toHaveLength(1);
    const redis = find("StatefulSet", "azure-openai-proxy-redis");
    expect(redis.spec.replicas).toBe(1);
    expect(redis.spec.template.spec.containers[0].args.join(" ")).toContain("--appendonly yes");
    const redisService = find("Service", "azure-openai-proxy-redis");
    expect(config.redis.url).toBe(`redis://${redisService.metadata.name}:${redisService.spec.ports[0].port}`);
    expect(find("Service", "azure-openai-proxy").spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(pod.volumes.find((volume: { name: string }) => volume.name === "config").configMap.name).toBe("azure-openai-proxy-config");
    expect(container.args).toContain(container.volumeMounts.find((mount: { name: string }) => mount.name === "config").mountPath);
  });

  /** The ConfigMap's files in a temp dir, loaded by the real loader with the Secret's values as environment. */
  async function loadMountedConfig() {
    const dir = mkdtempSync(join(tmpdir(), "proxy-k8s-config-"));
    try {
      for (const [name, text] of Object.entries(find("ConfigMap", "azure-openai-proxy-config").data ?? {})) writeFileSync(join(dir, name), text);
      const env = Object.fromEntries(container.env.map((entry: { name: string; value: string }) => [entry.name, entry.value]));
      const { config, warnings } = await loadConfig({ dir, explicit: true, env: { ...env, ...find("Secret", "azure-openai-proxy-secrets").stringData } });
      expect(warnings).toEqual([]);
      return config;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
