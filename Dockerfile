# Multi-stage build on the official Bun image: production dependencies first, then a runtime that runs as the
# image's non-root `bun` user. configs/ is baked in; mount your own over /app/configs.
FROM oven/bun:1.4 AS deps
WORKDIR /app
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production

FROM oven/bun:1.4-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production PORT=8080
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY server ./server
COPY configs ./configs
# The stats migrations: server/db/migrations.ts imports them (the single binary embeds them instead).
COPY drizzle ./drizzle
# The stats database (stats.database, default data/stats.db) lives here; a volume keeps it across restarts.
RUN mkdir -p /app/data && chown bun:bun /app/data
VOLUME /app/data
USER bun
EXPOSE 8080
# SIGTERM drains for shutdown.drain_seconds (25 s by default): give `docker stop` a longer timeout (compose: stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bun", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["bun", "server/main.ts", "--config", "configs"]
