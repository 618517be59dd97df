# gapwatch: a single static-ish binary on a slim base, running as a non-root user.
# The build step is the same `cargo build --release --locked` that
# scripts/test.sh and scripts/quickstart.sh run.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libclang-dev g++ make pkg-config libssl-dev zlib1g-dev perl python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin gapwatch

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/gapwatch --create-home gapwatch
COPY --from=build /src/target/release/gapwatch /usr/local/bin/gapwatch
COPY config/gapwatch.toml /etc/gapwatch/gapwatch.toml
USER gapwatch
WORKDIR /var/lib/gapwatch
ENV GAPWATCH_CONFIG=/etc/gapwatch/gapwatch.toml \
    GAPWATCH_STATE__DIR=/var/lib/gapwatch/data \
    GAPWATCH_HTTP__LISTEN=0.0.0.0:9477
VOLUME ["/etc/gapwatch", "/var/lib/gapwatch"]
EXPOSE 9477
ENTRYPOINT ["gapwatch"]
CMD ["run"]
