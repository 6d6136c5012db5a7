# Quick start: `make run` (the whole suite on the mock survey) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test test-fast bench docs clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: venv
	$(BIN)/agnbench run $(if $(CONFIG),--config $(CONFIG),)

# TEST_WORKERS: pytest-xdist processes (default: one per CPU core); a file's tests stay on one worker, and files
# are handed out in collection order (tests/conftest.py puts the longest first).
TEST_WORKERS ?= auto
test: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 $(PYTEST_ARGS)

# The developers' quick loop: everything but the end-to-end tests marked slow (tests/conftest.py).
test-fast: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow" $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# The documentation site (mkdocs.yml, docs/): strict, so a broken link or a docstring warning fails; into site/.
# Preview with live reload: $(BIN)/mkdocs serve (http://127.0.0.1:8000).
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache build site *.egg-info
