# kgplatform worker image (used by docker-compose.yml for worker-cpu, worker-gpu, beat and flower).
#   docker build -t kgplatform:cpu .
#   docker build -t kgplatform:gpu --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
FROM python:3.11-slim

# CPU wheels by default; the GPU image passes a CUDA index. Pinned: an unpinned torch pulls a multi-GB build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    KGP_HOME=/var/lib/kgp \
    KGP_CYPHER_DIR=/app/cypher

WORKDIR /app

# torch first, in its own layer, so code changes do not re-download it.
RUN pip install torch==2.13.0 --index-url "${TORCH_INDEX_URL}"

COPY pyproject.toml README.md ./
COPY kgplatform ./kgplatform
COPY workers ./workers
COPY cypher ./cypher
RUN pip install ".[s3]"

RUN useradd --create-home --uid 1000 kgp \
    && mkdir -p /var/lib/kgp \
    && chown kgp:kgp /var/lib/kgp
USER kgp

CMD ["kgp", "--help"]
