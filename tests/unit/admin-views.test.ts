// Runtime overrides and what the admin API shows (pure): strict patches, effective instances, drift, status, masking.
import { describe, expect, it } from "bun:test";
import { maskRedisUrl, toConfigView } from "../../server/admin/config-view.ts";
import { maskSecret, redactSecrets, statusOf } from "../../server/admin/views.ts";
import { createFleet } from "../../server/fleet/fleet.ts";
import { applyOverride, driftOf, parseTunablesPatch, readStoredPatch, tunablesOf } from "../../server/fleet/tunables.ts";
import { HEALTHY } from "../../server/health/state.ts";
import { ProxyError } from "../../server/errors.ts";
import { buildConfig } from "../_support/proxy.ts";

const config = buildConfig({
  admin: { token: "adm-unit-token-0123456789" },
  redis: { url: "redis://user:hunter2-password@cache.internal:6380/2" },
  auth: { api_keys: [{ name: "team", key: "sk-unit-client-key-0123" }] },
  instances: [
    { name: "a", api_key: "instance-a-key-0123456789", api_base: "https://a.example.com", supported_models: ["m"], max_tpm: 1000 },
    { name: "b", api_key: "instance-b-key-0123456789", api_base: "https://b.example.com", supported_models: ["m"] },
  ],
});
const [a] = config.instances;

describe("parseTunablesPatch", () => {
  it("accepts exactly the five fields with valid values, null lifting a limit", () => {
    expect(parseTunablesPatch({ enabled: false, weight: 0.5, priority: 0, max_tpm: 10, max_rpm: null })).toEqual({
      enabled: false,
      weight: 0.5,
      priority: 0,
      max_tpm: 10,
      max_rpm: null,
    });
  });

  it("throws a 400 naming the field for anything else", () => {
    const bad: Array<[unknown, string | null]> = [
      [{ weight: Number.POSITIVE_INFINITY }, "weight"],
      [{ weight: Number.NaN }, "weight"],
      [{ max_tpm: 2.5 }, "max_tpm"],
      [{ name: "x" }, "name"],
      [{}, null],
      [null, null],
      ["x", null],
    ];
    for (const [body, param] of bad) {
      try {
        parseTunablesPatch(body);
        throw new Error(`accepted ${JSON.stringify(body)}`);
      } catch (error) {
        expect(error).toBeInstanceOf(ProxyError);
        expect({ status: (error as ProxyError).status, param: (error as ProxyError).param }).toEqual({ status: 400, param });
      }
    }
  });

  it("reads stored overrides leniently, dropping fields that no longer validate", () => {
    expect(readStoredPatch('{"enabled":false,"weight":-1,"old":1}')).toEqual({ enabled: false });
    expect(readStoredPatch("not json")).toBeNull();
  });
});

describe("effective instances", () => {
  it("apply an override on top of the file's values and report the drift", () => {
    const effective = applyOverride(a!, { weight: 3, max_tpm: null, max_rpm: 50 });
    expect(tunablesOf(effective)).toEqual({ enabled: true, weight: 3, priority: 1, max_tpm: null, max_rpm: 50 });
    expect(effective.max_tpm).toBeUndefined();
    expect(driftOf(tunablesOf(a!), tunablesOf(effective))).toEqual(["weight", "max_tpm", "max_rpm"]);
    expect(applyOverride(a!, undefined)).toBe(a!);
  });

  it("rebuild the target table on a change, so a disabled instance leaves routing", () => {
    const fleet = createFleet(config);
    const changes: unknown[] = [];
    fleet.onChange((change) => changes.push(change));
    const before = fleet.table();
    fleet.setOverride("a", { enabled: false });
    expect(fleet.table().byModel.get("m")?.map((target) => target.instance.name)).toEqual(["b"]);
    expect(before.byModel.get("m")?.map((target) => target.instance.name)).toEqual(["a", "b"]);
    expect(fleet.fileInstance("a")?.enabled).toBe(true);
    fleet.replaceOverrides(new Map());
    fleet.replaceOverrides(new Map());
    expect(changes).toEqual([
      { reason: "override", instances: ["a"] },
      { reason: "override", instances: ["a"] },
    ]);
  });
});

describe("instance status", () => {
  it("ranks what an operator must act on first", () => {
    const now = 1000;
    expect(statusOf(false, { ...HEALTHY, circuit: "open" }, now)).toBe("disabled");
    expect(statusOf(true, { ...HEALTHY, probe: { up: false, failures: 3, successes: 0 } }, now)).toBe("probe_down");
    expect(statusOf(true, { ...HEALTHY, circuit: "open", cooldownUntil: 5000 }, now)).toBe("circuit_open");
    expect(statusOf(true, { ...HEALTHY, circuit: "half_open" }, now)).toBe("half_open");
    expect(statusOf(true, { ...HEALTHY, cooldownUntil: 5000 }, now)).toBe("cooldown");
    expect(statusOf(true, { ...HEALTHY, cooldownUntil: 500 }, now)).toBe("healthy");
    expect(statusOf(true, { ...HEALTHY, misconfigured: "401" }, now)).toBe("misconfigured");
  });
});

describe("masking", () => {
  it("shows only the last four characters of a long secret and nothing of a short one", () => {
    expect(maskSecret("instance-a-key-0123456789")).toBe("…6789");
    expect(maskSecret("short")).toBe("…");
    expect(maskSecret("")).toBe("");
    expect(redactSecrets("failed with key abcdef-123 at abcdef-123x", ["abcdef-123", "ab"])).toBe("failed with key [redacted] at [redacted]x");
  });

  it("hides every secret in the configuration view and names each tunable's source", () => {
    const fleet = createFleet(config, new Map([["a", { weight: 2 }]]));
    const text = JSON.stringify(toConfigView(fleet.current(), fleet.overrides(), ["base.yaml"]));
    for (const secret of ["adm-unit-token-0123456789", "hunter2-password", "user:", "sk-unit-client-key-0123", "instance-a-key-0123456789", "instance-b-key-0123456789"]) {
      expect(text).not.toContain(secret);
    }
    const view = toConfigView(fleet.current(), fleet.overrides(), ["base.yaml"]);
    expect(view.config.instances[0]).toMatchObject({ name: "a", weight: 2, api_key_masked: "…6789", sources: { weight: "override", enabled: "file" } });
    expect(view.config.redis.url).toBe("redis://****:****@cache.internal:6380/2");
    expect(view.config.admin).toEqual({ token: "(set)" });
    expect(maskRedisUrl("redis://cache:6379")).toBe("redis://cache:6379");
    expect(maskRedisUrl("::not a url::")).toBe("(set)");
  });
});

describe("secretsOf", () => {
  it("lists every key, the token, the Redis URL and its password alone", async () => {
    const { secretsOf } = await import("../../server/config/secrets.ts");
    expect(secretsOf(config)).toEqual([
      "instance-a-key-0123456789",
      "instance-b-key-0123456789",
      "sk-unit-client-key-0123",
      "adm-unit-token-0123456789",
      "redis://user:hunter2-password@cache.internal:6380/2",
      "hunter2-password",
    ]);
  });
});

describe("changedSections", () => {
  it("names changed sections, and within routing the changed keys", async () => {
    const { changedSections } = await import("../../server/admin/service.ts");
    const after = buildConfig({ ...JSON.parse(JSON.stringify({ name: "x", routing: { strategy: "weighted", retries: 1 }, cors: { origins: ["https://a"] } })) });
    expect(changedSections(config, after).sort()).toEqual(["admin", "auth", "cors", "instances", "name", "redis", "routing.retries", "routing.strategy"]);
    expect(changedSections(config, config)).toEqual([]);
  });
});
