# syntax=docker/dockerfile:1
# avatar enhancer, CUDA image: the OpenCV pipeline plus the CUDA and cuDNN runtime for GPU restoration models.
# Needs the NVIDIA container toolkit on the host. Build from the repository root:
#   docker build -f deploy/docker/enhancer.cuda.Dockerfile -t avatar-enhancer:0.1.0-cuda .

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG EXTRAS=enhancer
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    PATH=/opt/venv/bin:$PATH
# Ubuntu's Python 3.12 in a virtual environment (the system one is externally managed).
# Distribution packages are left unpinned to follow the base image's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.12 python3.12-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3.12 -m venv /opt/venv
COPY --from=build /wheels /wheels
# The package is the wheel built above; its dependencies' bounds live in pyproject.toml.
# hadolint ignore=DL3013
RUN set -- /wheels/avatar-*.whl \
    && pip install --no-cache-dir "$1[${EXTRAS}]" \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 avatar \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent avatar
USER 10001:10001
EXPOSE 50055 9055
HEALTHCHECK --interval=10s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-m", "avatar.core.probe", "127.0.0.1:50055"]
ENTRYPOINT ["python", "-m", "avatar.services.enhancer"]
