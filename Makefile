# The README's two commands: `make run` and `make test`. Both set up .venv first
# (scripts/bootstrap.sh, idempotent; the first run compiles mmcv, about 20 minutes).
VENV := .venv
READY := $(VENV)/.frcnn-tui-ready
PYTEST_ARGS ?=

.PHONY: run test test-fast bench setup clean

run: $(READY)
	$(VENV)/bin/frcnn-tui

test: $(READY)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The per-commit subset: skips the full 10-minute demo.
test-fast: $(READY)
	$(VENV)/bin/python -m pytest -m "not demo" $(PYTEST_ARGS)

bench: $(READY)
	$(VENV)/bin/python bench/run_all.py --write BENCHMARKS.md

setup: $(READY)

$(READY): pyproject.toml scripts/bootstrap.sh
	scripts/bootstrap.sh

clean:
	rm -rf $(VENV) build *.egg-info
