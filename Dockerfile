# syntax=docker/dockerfile:1

# ---- build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep the crate registry and build artefacts between builds; the binary is
# copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin paygate \
 && cp target/release/paygate /usr/local/bin/paygate

# ---- run --------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 paygate \
 && useradd --system --uid 10001 --gid paygate --home-dir /app --create-home --shell /usr/sbin/nologin paygate
COPY --from=builder /usr/local/bin/paygate /usr/local/bin/paygate
USER paygate
WORKDIR /app
EXPOSE 8080 8081
ENTRYPOINT ["paygate"]
# `all` (the embedded mode) by default; docker-compose.yml runs serve / worker / simulator /
# migrate instead. Alone: docker run -p 8080:8080 -e PAYGATE_ADDR=0.0.0.0:8080 paygate:local
CMD ["all"]
