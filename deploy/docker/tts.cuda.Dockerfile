# syntax=docker/dockerfile:1
# avatar tts, CUDA image: coqui-tts voices on the GPU (torch's CUDA build), espeak-ng voices as in the CPU image.
# Needs the NVIDIA container toolkit on the host. Build from the repository root:
#   docker build -f deploy/docker/tts.cuda.Dockerfile -t avatar-tts:0.1.0-cuda .

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG EXTRAS=tts,coqui
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    PATH=/opt/venv/bin:$PATH \
    AVATAR_TTS_COQUI_MODELS_DIR=/models
# Ubuntu's Python 3.12 in a virtual environment (the system one is externally managed).
# Distribution packages are left unpinned to follow the base image's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.12 python3.12-venv espeak-ng \
    && rm -rf /var/lib/apt/lists/* \
    && python3.12 -m venv /opt/venv
COPY --from=build /wheels /wheels
# The package is the wheel built above; its dependencies' bounds live in pyproject.toml.
# hadolint ignore=DL3013
RUN set -- /wheels/avatar-*.whl \
    && pip install --no-cache-dir "$1[${EXTRAS}]" \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 avatar \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent avatar \
    && install -d -o 10001 -g 10001 /models
USER 10001:10001
EXPOSE 50053 9053
HEALTHCHECK --interval=10s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-m", "avatar.core.probe", "127.0.0.1:50053"]
ENTRYPOINT ["python", "-m", "avatar.services.tts"]
