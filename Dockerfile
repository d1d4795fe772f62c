# syntax=docker/dockerfile:1
# The prediction service: `pipeline serve` with one model baked in.
#
# Built by `pipeline build-image` (docker buildx when a Docker engine answers, else buildah), which
# first stages out/image/stage/ on the host: the lockfile's production dependencies plus the
# build-only ones (typescript, @types), and the model with its serving.json. The build therefore
# needs no network. Every RUN is exec form: the local base image (`pipeline base-image`) and
# distroless-style bases have no shell.
#
#   BUILDER_IMAGE  image with node to compile in (default: the public Node 24 slim image)
#   BASE_IMAGE     runtime base (default: the same); offline: localhost/pipeline-node-base:<major>

ARG BUILDER_IMAGE=node:24-slim
ARG BASE_IMAGE=node:24-slim

FROM ${BUILDER_IMAGE} AS build
WORKDIR /src
# Dependencies first: they change less often than the sources, so with layer caching a source
# change recompiles without copying node_modules again.
COPY out/image/stage/node_modules/ node_modules/
COPY out/image/stage/build-only.json out/image/stage/build-only.json
COPY package.json tsconfig.json tsconfig.image.json ./
COPY scripts/image/ scripts/image/
COPY pipeline/ pipeline/
COPY cli/ cli/
RUN ["node", "node_modules/typescript/bin/tsc", "-p", "tsconfig.image.json"]
RUN ["node", "scripts/image/prune-node-modules.mjs", "out/image/stage/build-only.json", "."]
# Fail the build, not the deploy, when the CLI cannot start with production dependencies only.
RUN ["node", "dist/cli/main.js", "--help"]

FROM ${BASE_IMAGE}
ARG GIT_SHA=unknown
ARG SOURCE_URL=
ARG CREATED=1970-01-01T00:00:00Z
ARG MODEL_NAME=unknown
ARG MODEL_VERSION=unknown
ARG MODEL_SHA256=
ARG MODEL_CONTENT_SHA256=
ARG DATA_SHA256=
WORKDIR /app
COPY --from=build /src/package.json /app/package.json
COPY --from=build /src/node_modules/ /app/node_modules/
COPY --from=build /src/dist/ /app/dist/
COPY config/pipeline.yaml /app/config/pipeline.yaml
COPY out/image/stage/model/ /app/model/
ENV NODE_ENV=production PORT=8080
# Two malloc arenas instead of glibc's one per thread that allocates: the arenas of the model loader
# and the other threads kept 5-6 MB of freed memory resident. Measured here: 91.8-96.4 MB when ready
# against 94.9-102.6, with the same req/s (README "Benchmark"; bench/serve.ts runs the server with
# this ENV).
ENV MALLOC_ARENA_MAX=2
# 65532 is distroless' nonroot; the local base names it in /etc/passwd. Files stay root-owned, so
# the server cannot modify its own code or model.
USER 65532:65532
EXPOSE 8080
LABEL org.opencontainers.image.title="${MODEL_NAME}-server" \
      org.opencontainers.image.description="pipeline serve with ${MODEL_NAME} ${MODEL_VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.version="${MODEL_VERSION}" \
      pipeline.model.name="${MODEL_NAME}" \
      pipeline.model.version="${MODEL_VERSION}" \
      pipeline.model.sha256="${MODEL_SHA256}" \
      pipeline.model.content_sha256="${MODEL_CONTENT_SHA256}" \
      pipeline.data.sha256="${DATA_SHA256}"
# A 4 MB young generation (V8's default grows to 16 MB per semi-space): about 6 MB less resident
# when ready and far less under load, for no measurable loss of throughput (bench/serve.ts runs the
# server with the flags of this line).
ENTRYPOINT ["node", "--max-semi-space-size=4", "/app/dist/cli/main.js", "serve", "--model", "/app/model/model.json"]
