# syntax=docker/dockerfile:1
# avatar gateway: the public API: avatars, Speak, MP4 muxing.
# CPU image. Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t avatar-gateway:0.1.0 .

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ARG EXTRAS=gateway
# No bytecode files: the root filesystem is read-only when deployed.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    AVATAR_GATEWAY_AVATAR_DIR=/var/lib/avatar/avatars
COPY --from=build /wheels /wheels
# The package is the wheel built above; its dependencies' bounds live in pyproject.toml.
# hadolint ignore=DL3013
RUN set -- /wheels/avatar-*.whl \
    && pip install --no-cache-dir "$1[${EXTRAS}]" \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 avatar \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent avatar \
    && install -d -o 10001 -g 10001 /var/lib/avatar
# A numeric user, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 50051 9051
# Docker and compose: the standard gRPC health check (Kubernetes uses its native grpc probe).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-m", "avatar.core.probe", "127.0.0.1:50051"]
ENTRYPOINT ["python", "-m", "avatar.gateway"]
