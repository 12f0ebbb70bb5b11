# crosstrack: the two commands are `make demo` and `make test` (see README).
# Everything installs from uv.lock into .venv; uv itself is installed from PyPI into .uv/.
PYTHON ?= python3
UV_VERSION ?= 0.13.9
UV := .uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

.PHONY: install demo test test-pg lint fmt bench clean

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/crosstrack demo

test: install
	$(BIN)/pytest -n auto -q

test-pg: install
	CROSSTRACK_TEST_DATABASE_URL=$${CROSSTRACK_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} $(BIN)/pytest -n auto -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .uv .pytest_cache .mypy_cache .ruff_cache
