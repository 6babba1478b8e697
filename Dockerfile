# Multi-stage build on the official Bun image: dependencies, then a small runtime as a non-root user.
FROM oven/bun:1.4 AS deps
WORKDIR /app
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production

FROM oven/bun:1.4 AS runtime
WORKDIR /app
ENV NODE_ENV=production PORT=8080
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY server ./server
COPY configs ./configs
# The stats migrations: server/db/migrations.ts imports them (the single binary embeds them instead).
COPY drizzle ./drizzle
USER bun
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s CMD bun -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["bun", "server/main.ts", "--config", "configs"]
