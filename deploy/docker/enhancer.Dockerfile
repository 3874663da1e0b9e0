# syntax=docker/dockerfile:1
# avatar enhancer: frame enhancement for high quality.
# CPU image. Build from the repository root:
#   docker build -f deploy/docker/enhancer.Dockerfile -t avatar-enhancer:0.1.0 .

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ARG EXTRAS=enhancer
# No bytecode files: the root filesystem is read-only when deployed.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /wheels /wheels
# The package is the wheel built above; its dependencies' bounds live in pyproject.toml.
# hadolint ignore=DL3013
RUN set -- /wheels/avatar-*.whl \
    && pip install --no-cache-dir "$1[${EXTRAS}]" \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 avatar \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent avatar
# A numeric user, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 50055 9055
# Docker and compose: the standard gRPC health check (Kubernetes uses its native grpc probe).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-m", "avatar.core.probe", "127.0.0.1:50055"]
ENTRYPOINT ["python", "-m", "avatar.services.enhancer"]
