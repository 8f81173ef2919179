# syntax=docker/dockerfile:1

# --- build: compile TypeScript to dist/ ---
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package*.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY client ./client
COPY scripts/build-inspector.ts ./scripts/
COPY inspector ./inspector
RUN npm run build

# --- runtime: production dependencies, compiled code and migrations only ---
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package*.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
USER node
# The container needs DATABASE_URL (docker-compose.yml provides it): without it
# the server would try to start an embedded PostgreSQL under /app/.data, which
# the node user cannot write.
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
CMD ["node", "dist/main.js"]
