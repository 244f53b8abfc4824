# syntax=docker/dockerfile:1
# mimecast-collector container image. Guide: docs/guides/docker.md
#
#   docker build -t mimecast-collector:0.1.0 .
#   docker run --rm mimecast-collector:0.1.0 --version
#
# The base is pinned by tag (Python 3.11, Debian 12 "bookworm", slim). For byte-for-byte
# reproducible builds pin the digest as well, and let a bot (Renovate, Dependabot) bump it:
#   ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>
# (the digest is printed by: docker buildx imagetools inspect python:3.11-slim-bookworm)
# tests/deploy/test_docker.py runs the same pip steps as this file in a fresh venv, and
# hadolint lints it (.hadolint.yaml).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: the project wheel plus a wheel of every dependency --------------------------
# DL3049 (a required OCI label is missing) is ignored for this stage only: it is discarded
# after the build and never published; the runtime stage below carries every label.
# hadolint ignore=DL3049
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps everything else out of the context).
COPY pyproject.toml README.md ./
COPY collector ./collector
RUN pip wheel --wheel-dir /wheels .

# ---- runtime: the wheels installed into a venv; no compiler, no source tree -------------
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="mimecast-collector" \
      org.opencontainers.image.description="Collects Mimecast URL Protection click logs into your SIEM" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/guides/docker.md" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/mimecast-collector/bin:$PATH

# The wheels are bind-mounted from the build stage, so they never become a layer here.
# --no-index: nothing is fetched at this point; the build stage resolved every dependency.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/mimecast-collector \
 && /opt/mimecast-collector/bin/pip install --no-index --find-links /wheels mimecast-collector \
 && /opt/mimecast-collector/bin/pip uninstall --yes pip \
 && mimecast-collector --version

# A fixed, unprivileged uid/gid (10001), so volume ownership and Kubernetes runAsUser agree.
# The state and log directories are created here, owned by it, BEFORE the VOLUME line, so
# a fresh named volume starts with this ownership.
RUN groupadd --system --gid 10001 collector \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin collector \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/mimecast-collector /var/log/mimecast-collector \
 && install -d -o root -g root -m 0755 /etc/mimecast-collector

# A default config driven by MIMECAST_CLIENT_ID, MIMECAST_BASE_URL and the secret file
# /run/secrets/mimecast_client_secret. No secret is ever copied into the image.
COPY --chown=root:root --chmod=0644 deploy/docker/collector.toml /etc/mimecast-collector/collector.toml

USER 10001:10001
WORKDIR /var/lib/mimecast-collector
VOLUME ["/var/lib/mimecast-collector", "/var/log/mimecast-collector"]
# /metrics, /healthz, /readyz ([metrics] address in the config).
EXPOSE 9464

# Exit 0 when every source completed a cycle within 3 x its interval (asks the metrics
# server named in the config). The start period covers the first cycle of a big backlog.
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 \
  CMD ["mimecast-collector", "health", "-c", "/etc/mimecast-collector/collector.toml"]

# Exec form, no shell in between: the collector is PID 1 and receives SIGTERM itself; it
# finishes the page in flight and exits 0 within 10 s (docker stop waits 10 s by default).
STOPSIGNAL SIGTERM
ENTRYPOINT ["mimecast-collector"]
CMD ["run", "-c", "/etc/mimecast-collector/collector.toml"]
