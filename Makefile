# The README's two commands: `make run` and `make test`. Both set up .venv first
# (scripts/bootstrap.sh, idempotent; the first run compiles mmcv, about 20 minutes): `make run` only its
# light part before the TUI opens (the rest goes on in the background), `make test` all of it first.
VENV := .venv
READY := $(VENV)/.frcnn-tui-ready
PYTEST_ARGS ?=

.PHONY: run test test-fast bench setup clean upgrade-pins

# After the TUI: a set-up still running, or failed, in one line.
run: $(READY)
	@$(VENV)/bin/frcnn-tui; status=$$?; scripts/bootstrap.sh --report; exit $$status

# Every test but the one-epoch demo: the full demo trains the same path and asserts all it does.
test: $(READY)
	$(VENV)/bin/python -m pytest -m "not short_demo" $(PYTEST_ARGS)

# The per-commit subset: the one-epoch demo instead of the full 10-minute one.
test-fast: $(READY)
	$(VENV)/bin/python -m pytest -m "not demo" $(PYTEST_ARGS)

bench: $(READY)
	$(VENV)/bin/python bench/run_all.py --write BENCHMARKS.md

setup: $(READY)

# `make run` alone: the TUI opens once its own dependencies are in (about a minute on a fresh clone) while
# torch and mmcv install in a detached session (the Home shows how far; a second `make run` leaves a running
# one be, a failed one is tried again). Anything else (make test, CI) sets everything up first.
ifeq ($(MAKECMDGOALS),run)
$(READY): pyproject.toml constraints.txt scripts/bootstrap.sh
	@scripts/bootstrap.sh --background
else
$(READY): pyproject.toml constraints.txt scripts/bootstrap.sh
	scripts/bootstrap.sh
endif

# Move the pinned versions forward: the newest releases pyproject.toml allows, installed into .venv
# without constraints, written back to constraints.txt. Then `make test`; commit both if it passes.
upgrade-pins: $(READY)
	$(VENV)/bin/python -m pip install --disable-pip-version-check --upgrade --upgrade-strategy eager \
		--no-build-isolation -e '.[train,dev]'
	$(VENV)/bin/python scripts/constraints.py --write

clean:
	rm -rf $(VENV) build *.egg-info
