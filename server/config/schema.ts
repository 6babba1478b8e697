// The configuration's shape and defaults: YAML keys are spelled here exactly as the README documents them.
import { Type, type Static } from "@sinclair/typebox";
import { STRATEGIES } from "../routing/strategies.ts";

const PositiveInt = (options: { default?: number; minimum?: number } = {}) =>
  Type.Integer({ minimum: options.minimum ?? 1, ...(options.default === undefined ? {} : { default: options.default }) });

export const RedisFailureModes = ["open", "local", "closed"] as const;

const StrategySchema = Type.Union(
  STRATEGIES.map((strategy) => Type.Literal(strategy)),
  { default: "failover" },
);

export const InstanceSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    provider_type: Type.Union([Type.Literal("azure"), Type.Literal("openai")], { default: "azure" }),
    api_key: Type.String({ default: "" }),
    api_base: Type.String({ default: "" }),
    api_version: Type.String({ default: "2024-10-21" }),
    priority: Type.Integer({ default: 1, minimum: 0 }),
    weight: Type.Number({ default: 1, minimum: 0 }),
    max_tpm: Type.Optional(PositiveInt()),
    max_rpm: Type.Optional(PositiveInt()),
    supported_models: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    model_deployments: Type.Record(Type.String(), Type.String({ minLength: 1 }), { default: {} }),
    enabled: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);

export const ClientKeySchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    key: Type.String({ default: "" }),
    rpm: Type.Optional(PositiveInt()),
    tpm: Type.Optional(PositiveInt()),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    name: Type.String({ default: "Azure OpenAI Proxy" }),
    port: Type.Integer({ default: 8080, minimum: 0, maximum: 65535 }),
    routing: Type.Object(
      {
        strategy: StrategySchema,
        retries: Type.Integer({ default: 3, minimum: 0, maximum: 10 }),
        timeout: Type.Number({ default: 30, exclusiveMinimum: 0 }),
        // Seconds a stream may take to its first content frame before the proxy fails over (nothing sent yet).
        first_token_timeout: Type.Number({ default: 30, exclusiveMinimum: 0 }),
        // Seconds a stream may go without an upstream frame before it is stopped with an error frame.
        stream_idle_timeout: Type.Number({ default: 60, exclusiveMinimum: 0 }),
        models: Type.Record(Type.String(), Type.Object({ strategy: StrategySchema }, { additionalProperties: false }), {
          default: {},
        }),
        fallbacks: Type.Record(Type.String(), Type.Array(Type.String({ minLength: 1 })), { default: {} }),
        context_window_fallbacks: Type.Record(Type.String(), Type.Array(Type.String({ minLength: 1 })), { default: {} }),
        cooldown: Type.Object(
          {
            min_seconds: Type.Number({ default: 1, minimum: 0 }),
            max_seconds: Type.Number({ default: 60, exclusiveMinimum: 0 }),
            default_seconds: Type.Number({ default: 5, exclusiveMinimum: 0 }),
          },
          { default: {}, additionalProperties: false },
        ),
        circuit_breaker: Type.Object(
          {
            failure_threshold: PositiveInt({ default: 3 }),
            error_rate: Type.Number({ default: 0.5, exclusiveMinimum: 0, maximum: 1 }),
            min_requests: PositiveInt({ default: 10 }),
            window_seconds: Type.Number({ default: 60, exclusiveMinimum: 0 }),
            open_seconds: Type.Number({ default: 10, exclusiveMinimum: 0 }),
            max_open_seconds: Type.Number({ default: 300, exclusiveMinimum: 0 }),
          },
          { default: {}, additionalProperties: false },
        ),
        retry_budget: Type.Object(
          {
            ratio: Type.Number({ default: 0.2, minimum: 0, maximum: 1 }),
            minimum: Type.Integer({ default: 3, minimum: 0 }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    auth: Type.Object(
      { api_keys: Type.Array(ClientKeySchema, { default: [] }) },
      { default: {}, additionalProperties: false },
    ),
    admin: Type.Object({ token: Type.String({ default: "" }) }, { default: {}, additionalProperties: false }),
    // Browser origins allowed to call /v1 (CORS); admin routes never answer cross-origin.
    cors: Type.Object({ origins: Type.Array(Type.String({ minLength: 1 }), { default: [] }) }, { default: {}, additionalProperties: false }),
    // watch: re-read the YAML files when they change, as POST /admin/reload and SIGHUP do.
    config: Type.Object({ watch: Type.Boolean({ default: false }) }, { default: {}, additionalProperties: false }),
    redis: Type.Object(
      {
        url: Type.String({ default: "" }),
        // Every limiter key starts with this, so several proxies (or other apps) can share one Redis.
        key_prefix: Type.String({ default: "aoai-proxy:" }),
        // What the limiter does while Redis is unreachable: admit all, count in process, or refuse.
        on_failure: Type.Union(RedisFailureModes.map((mode) => Type.Literal(mode)), { default: "local" }),
        // A request never waits on Redis longer than this; then the on_failure mode answers.
        command_timeout_ms: PositiveInt({ default: 150 }),
        // Reconnect attempts back off exponentially up to this delay.
        reconnect_max_delay_ms: PositiveInt({ default: 2000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    stats: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        database: Type.String({ default: "data/stats.db" }),
        retention_days: Type.Object(
          {
            // Raw request rows, failed attempts and per-minute rollups.
            raw: PositiveInt({ default: 7 }),
            // Per-hour rollups (what windows longer than a day read).
            rollups: PositiveInt({ default: 90 }),
          },
          { default: {}, additionalProperties: false },
        ),
        // Seconds between batched writes; a backlog of 1000 records is written sooner.
        flush_interval: Type.Number({ default: 1, exclusiveMinimum: 0 }),
        // Records held while the disk is slow or failing; beyond it new ones are dropped and counted.
        max_queue: PositiveInt({ default: 50_000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    limits: Type.Object(
      {
        max_body_bytes: PositiveInt({ default: 10 * 1024 * 1024 }),
        // Seconds a client connection may sit without bytes while its request is still being read.
        client_idle_timeout: PositiveInt({ default: 10 }),
        // Completion tokens the limiter reserves for a request that sets neither max_tokens nor max_completion_tokens.
        default_max_tokens: PositiveInt({ default: 1024 }),
      },
      { default: {}, additionalProperties: false },
    ),
    shutdown: Type.Object(
      {
        // Seconds after SIGTERM that in-flight requests and streams get to finish before open streams are stopped.
        drain_seconds: Type.Number({ default: 25, minimum: 0 }),
      },
      { default: {}, additionalProperties: false },
    ),
    health_check: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        interval: Type.Number({ default: 15, exclusiveMinimum: 0 }),
        timeout: Type.Number({ default: 5, exclusiveMinimum: 0 }),
        down_after: PositiveInt({ default: 3 }),
        up_after: PositiveInt({ default: 2 }),
      },
      { default: {}, additionalProperties: false },
    ),
    instances: Type.Array(InstanceSchema, { default: [] }),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type InstanceConfig = Static<typeof InstanceSchema>;
export type ClientKeyConfig = Static<typeof ClientKeySchema>;
export type RedisConfig = Config["redis"];
