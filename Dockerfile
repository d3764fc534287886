# Picasso Me: the Telegram bot and its style engine, on an NVIDIA GPU (or the CPU).
#
#   docker build -t picasso-me .
#   docker run --gpus all --env-file .env --stop-timeout 30 -v picasso-data:/data picasso-me
#
# A plain Debian bookworm Python 3.11 with torch, torchvision and the rest from the package
# registry into a virtual environment /opt/venv. PyPI's Linux torch is the CUDA build: it
# brings the CUDA libraries as nvidia-* wheels (what pytorch/pytorch images hold too), so the
# image paints on a GPU given `--gpus all` and on the CPU without (the engine then caps size
# and iterations: CPU_* settings). The sizes, measured: README, "Docker".
#
# Two stages: the wheels (docker/wheels/, used first when present) and pip's work stay in the
# first; the final image gets the finished /opt/venv only. torch's triton (0.9 GB: kernels for
# torch.compile, which the engine never uses) is left out.
#
# Which CUDA: PyPI's torch 2.14.1 is built for CUDA 13.0 and needs NVIDIA driver 580 or newer on
# the host (`nvidia-smi` shows it). For an older driver (525 and newer) build the same torch
# for CUDA 12.6 from PyTorch's own index:
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 -t picasso-me .
# A painter that finds a GPU its torch cannot use says so (log, /admin, the bot's /healthz).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS deps
# Wheels put in docker/wheels/ before the build are preferred to the registry's; PIP_OFFLINE=1
# installs from them alone (`make docker-check` downloads them on the host: pip in a build
# there cannot reach the registry). Without either, pip downloads everything as usual.
ARG PIP_OFFLINE=
ARG TORCH_INDEX=
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
COPY pyproject.toml /tmp/build/
COPY docker/wheels/ /tmp/wheels/
RUN /opt/venv/bin/python -c "import tomllib; \
print('\n'.join(tomllib.load(open('/tmp/build/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/build/requirements.txt \
    && if [ -n "$TORCH_INDEX" ]; then \
        grep -E '^torch(vision)?[<>=]' /tmp/build/requirements.txt > /tmp/build/torch.txt \
        && /opt/venv/bin/pip install --index-url "$TORCH_INDEX" -r /tmp/build/torch.txt; \
    fi \
    && /opt/venv/bin/pip install --find-links /tmp/wheels ${PIP_OFFLINE:+--no-index} \
        -r /tmp/build/requirements.txt \
    && /opt/venv/bin/pip uninstall -y -q triton \
    && /opt/venv/bin/python -c "import torch, torchvision; \
print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'torchvision', torchvision.__version__)"

FROM ${BASE_IMAGE}

# The style paintings are fetched at build time and checked against their sha256.
# Without internet access: put them in styles/ before building (`make styles`, or copy them
# there; they are verified, not downloaded), or pass a mirror serving <url>/<file>:
#   docker build --build-arg STYLES_SOURCE=https://mirror.example/styles -t picasso-me .
ARG STYLES_SOURCE=

# TORCH_HOME: only VGG_WEIGHTS=torchvision downloads anything at run time; keep it in the volume.
# PYTHONPATH: the app runs from /app (the bot, its engine child, the health check, a painter).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONPATH=/app \
    DATA_DIR=/data \
    STYLES_DIR=/app/styles \
    TORCH_HOME=/data/cache/torch \
    METRICS_PORT=9464

COPY --from=deps /opt/venv /opt/venv
WORKDIR /app

# The app itself (named one by one: the context also holds docker/wheels/, for the first
# stage only; .dockerignore keeps out .env, data/, .venv, .git), with the gallery sheet
# /styles cuts its cards from, then the paintings into STYLES_DIR; any failure stops the build.
COPY pyproject.toml README.md ./
COPY docs/gallery.jpg docs/gallery.json docs/
COPY bot bot
COPY engine engine
COPY jobs jobs
COPY media media
COPY styles styles
RUN if [ -n "$STYLES_SOURCE" ]; then \
        python -m engine styles fetch --from "$STYLES_SOURCE"; \
    else \
        env -u STYLES_SOURCE python -m engine styles fetch; \
    fi \
    || { echo "ERROR: could not fetch the style paintings (see above). Without internet, run" \
              "'make styles' before 'docker build', or build with" \
              "--build-arg STYLES_SOURCE=<mirror URL>." >&2; exit 1; }

# An unprivileged user; the job table, uploads and results live in the /data volume.
RUN useradd --create-home --uid 10001 --user-group picasso \
    && mkdir -p /data \
    && chown picasso:picasso /data
USER picasso
VOLUME ["/data"]

# /metrics (Prometheus) and /healthz; the health check asks /healthz: 200 while the bot gets
# updates from Telegram and reaches its database. A webhook (WEBHOOK_URL) listens on
# WEBHOOK_PORT, 8443 by default: publish it (-p 8443:8443) behind your TLS proxy.
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot.healthcheck"]

CMD ["python", "-m", "bot"]
