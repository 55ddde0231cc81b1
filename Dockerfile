# syntax=docker/dockerfile:1
#
# Parley as a container: a build stage compiles the single executable (`bun run build`), and the
# runtime stage is a slim glibc Debian holding only that file. No Bun, Node or node_modules ship.
#
#   docker build -t parley .
#   docker run --rm -p 3000:3000 -v parley-data:/data -e JWT_SECRET="$(openssl rand -base64 48)" parley
#   docker run --rm -v parley-data:/data -e JWT_SECRET=... parley migrate
#
# NODE_ENV=production makes JWT_SECRET (32+ characters) mandatory: the server refuses to start
# without it. tests/deploy/deploy-files.test.ts checks this file against fly.toml, the CLI and README.

# Keep in step with devDependencies.bun in package.json (the test checks).
ARG BUN_VERSION=1.4.5

# ---------------------------------------------------------------------------------------------
FROM node:22-bookworm-slim AS build
ARG BUN_VERSION
# Bun comes from npm, like the repo's own devDependency, so no curl | sh from another host.
RUN npm install --global --no-fund --no-audit "bun@${BUN_VERSION}" && bun --version

WORKDIR /src
# Dependencies first, so editing the source does not invalidate this layer.
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile
# tsconfig.json is read by the bundler; drizzle/ is read at build time by the migrations macro,
# which embeds the SQL into the executable (nothing from drizzle/ is needed at run time);
# scripts/ holds the build itself.
COPY tsconfig.json ./
COPY drizzle ./drizzle
COPY scripts ./scripts
COPY src ./src
# .git stays out of the context, so the commit `parley --version` reports comes in as a build arg:
#   docker build --build-arg PARLEY_COMMIT="$(git rev-parse HEAD)" -t parley .
ARG PARLEY_COMMIT=unknown
RUN bun run build && ./dist/parley --version

# ---------------------------------------------------------------------------------------------
# glibc, like the build stage: `bun build --compile` embeds the builder's Bun runtime, which
# links against glibc, so Alpine/musl would not run it.
FROM debian:bookworm-slim AS runtime
# curl only serves the HEALTHCHECK; ca-certificates lets outbound TLS use the system store too.
RUN apt-get update \
 && apt-get install --yes --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid, so volume ownership is predictable on every host. /data is created owned
# by it before VOLUME: Docker copies that ownership into a new named volume, and Fly mounts its
# volume for the image's USER. A bind mount (-v ./dir:/data) must be writable by uid 10001.
RUN groupadd --gid 10001 parley \
 && useradd --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin parley \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0750 /data

# Owned by root and not writable by the service user.
COPY --from=build /src/dist/parley /app/parley

WORKDIR /app
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0 \
    DATA_DIR=/data
USER 10001:10001
VOLUME ["/data"]
EXPOSE 3000

# Liveness only (/health does not touch the database). ${PORT:-3000} keeps the probe right if
# PORT is overridden at run time.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD curl --fail --silent --show-error --output /dev/null "http://127.0.0.1:${PORT:-3000}/health" || exit 1

# The server shuts down gracefully on SIGTERM (Docker's default stop signal); give
# `docker stop` more than SHUTDOWN_GRACE_MS (10 s by default), e.g. `docker stop -t 15`.
ENTRYPOINT ["/app/parley"]
CMD ["serve"]
