# syntax=docker/dockerfile:1.7
# One image for every role: `serve` (the default), `worker`, `ui`, `db upgrade`, any
# `fusionflow` command. The builder makes the same repaired wheel CI tests (`make wheel`,
# after the same setup step, `scripts/setup build`); the runtime installs only that wheel.
#
#   docker build -t fusionflow:local .
#   docker run --rm -p 8000:8000 fusionflow:local            # the API, embedded defaults
#   docker run --rm fusionflow:local run grep /data -e ERROR -o /tmp/out

ARG PYTHON_VERSION=3.11
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS rust

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=rust /usr/local/rustup /usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo \
    RUSTUP_HOME=/usr/local/rustup \
    PATH=/usr/local/cargo/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The setup step alone first, so its layer is reused until the package list changes.
COPY scripts/setup scripts/setup
RUN scripts/setup build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/root/.cache/fusionflow \
    --mount=type=cache,target=/root/.cache/pip \
    make wheel

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="FusionFlow" \
      org.opencontainers.image.description="Heavy processing jobs over many files: API, workers and web UI in one image." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/fusionflow/fusionflow" \
      org.opencontainers.image.licenses="Apache-2.0 AND GPL-3.0-only"
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/var/lib/fusionflow \
    FUSIONFLOW_DATA_DIR=/var/lib/fusionflow \
    FUSIONFLOW_HOST=0.0.0.0
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/fusionflow --create-home \
        --shell /usr/sbin/nologin fusionflow
# The wheel bundles every library it links (poppler, glib, cairo, ...): no apt-get here.
# dumb-init is PID 1: it forwards SIGTERM to fusionflow (a worker then hands its shard back)
# and reaps zombies (the extract-text parser processes).
RUN --mount=type=bind,from=builder,source=/src/wheelhouse,target=/wheels \
    pip install --no-cache-dir "dumb-init==1.2.5.post1" \
        "$(find /wheels -name 'fusionflow-*.whl' -print -quit)[ui]"
USER 10001:10001
WORKDIR /var/lib/fusionflow
# 8000: the API (serve); 8501: the web UI (ui); 9100: a worker's metrics (--metrics-port).
EXPOSE 8000 8501 9100
ENTRYPOINT ["dumb-init", "--", "fusionflow"]
CMD ["serve"]
# The API's liveness (FUSIONFLOW_PORT); compose and Kubernetes set the worker's and UI's.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["fusionflow", "probe"]
