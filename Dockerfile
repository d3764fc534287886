# Picasso Me: the Telegram bot and its style engine, on an NVIDIA GPU.
#
#   docker build -t picasso-me .
#   docker run --gpus all --env-file .env -v picasso-data:/data picasso-me
#
# The base image already holds a CUDA build of torch 2.5.1 and torchvision 0.20.1 on Python 3.11,
# which the pyproject ranges admit (torch>=2.2,<3, torchvision>=0.17,<1); they are pinned below
# so that `pip install` never replaces them with a fresh multi-GB download.
# Runs on CPU too (no --gpus): the engine then caps size and iterations (CPU_* settings).
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

# The style paintings are fetched at build time and checked against their sha256.
# Without internet access: put them in styles/ before building (`make styles`, or copy them
# there; they are verified, not downloaded), or pass a mirror serving <url>/<file>:
#   docker build --build-arg STYLES_SOURCE=https://mirror.example/styles -t picasso-me .
ARG STYLES_SOURCE=

# TORCH_HOME: only VGG_WEIGHTS=torchvision downloads anything at run time; keep it in the volume.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    DATA_DIR=/data \
    STYLES_DIR=/app/styles \
    TORCH_HOME=/data/cache/torch \
    METRICS_PORT=9464

WORKDIR /app

# Dependencies first (a layer that survives code changes), with the base image's torch pinned.
COPY pyproject.toml ./
RUN python -c "from importlib.metadata import version; \
print('\n'.join(f'{name}=={version(name)}' for name in ('torch', 'torchvision')))" \
        > /etc/pip-constraints.txt \
    && python -c "import tomllib; \
print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c /etc/pip-constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The app itself (.dockerignore lets in only pyproject.toml, README.md, bot/, engine/, jobs/,
# styles/ and the gallery sheet /styles cuts its cards from), then the paintings into STYLES_DIR; any failure stops the build.
COPY . .
RUN pip install -c /etc/pip-constraints.txt --no-deps . \
    && python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"
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
