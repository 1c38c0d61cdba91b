# Two commands do all set-up on a fresh machine: `make serve` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# ../shared/models is a local mirror of the official model URLs (see models/manifest.json); elsewhere
# the build downloads from the URLs. Override with `make models MIRROR=/path`.
MIRROR ?= $(if $(wildcard ../shared/models/SOURCES.md),../shared/models,)
IMAGES ?= $(if $(wildcard ../shared/images),../shared/images,)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install models serve test lint clean lock

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e '.[build,dev]'
	touch $@

models: install
	$(BIN)/mobile-vision-api models build $(if $(MIRROR),--mirror $(MIRROR)) $(if $(IMAGES),--images $(IMAGES))

serve: models
	$(BIN)/mobile-vision-api serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check service tests

test: models lint
	MVA_TEST_IMAGES=$(IMAGES) $(BIN)/pytest

# Re-pin every transitive dependency after changing pyproject.toml.
lock: install
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) models/build models/cache artifacts
