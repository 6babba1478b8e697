# Multi-stage build on the official Bun image: production dependencies and `bun run build` (the single binary, with
# the default config, the stats migrations and the tokenizer tables embedded), then a slim runtime holding only the
# binary and configs/, run as the image's non-root `bun` user. Mount your own configs over /app/configs.
FROM oven/bun:1.4 AS build
WORKDIR /app
COPY package.json bun.lock tsconfig.json ./
RUN bun install --frozen-lockfile --production
COPY server ./server
COPY configs ./configs
COPY drizzle ./drizzle
# The dashboard, bundled and embedded in the binary by the build script.
COPY dashboard ./dashboard
COPY scripts ./scripts
RUN bun run build

FROM oven/bun:1.4-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production PORT=8080
COPY --from=build /app/dist/azure-openai-proxy /usr/local/bin/azure-openai-proxy
COPY configs ./configs
# The stats database (stats.database, default data/stats.db) lives here; a volume keeps it across restarts.
RUN mkdir -p /app/data && chown bun:bun /app/data
VOLUME /app/data
USER bun
EXPOSE 8080
# SIGTERM drains for shutdown.drain_seconds (25 s by default): give `docker stop` a longer timeout (compose: stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bun", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["azure-openai-proxy", "--config", "configs"]
