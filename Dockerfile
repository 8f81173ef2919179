# syntax=docker/dockerfile:1

# --- build: compile TypeScript to dist/ ---
FROM node:24-bookworm-slim AS build
WORKDIR /app
# postinstall applies patches/ (a postgres.js fix) and needs its script.
COPY package*.json ./
# The client is an npm workspace (@session-sync/client): npm ci needs its package.json.
COPY client/package.json ./client/
COPY patches ./patches
COPY scripts/postinstall.mjs ./scripts/
# Optional dependencies are the test runtimes and embedded PostgreSQL binaries: not needed to build.
RUN npm ci --omit=optional
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY client ./client
COPY scripts/build-inspector.ts ./scripts/
COPY inspector ./inspector
RUN npm run build

# --- runtime: production dependencies, compiled code and migrations only ---
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package*.json ./
COPY client/package.json ./client/
COPY patches ./patches
COPY scripts/postinstall.mjs ./scripts/
# No optional dependencies: the container uses DATABASE_URL, never an embedded PostgreSQL.
RUN npm ci --omit=dev --omit=optional && npm cache clean --force
COPY --from=build /app/dist ./dist
# The server imports the protocol's names from the built client (session-sync/client/protocol).
COPY --from=build /app/client/dist ./client/dist
COPY migrations ./migrations
USER node
# The container needs DATABASE_URL (docker-compose.yml provides it): without it
# the server would try to start an embedded PostgreSQL under /app/.data, which
# the node user cannot write.
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
CMD ["node", "dist/main.js"]
