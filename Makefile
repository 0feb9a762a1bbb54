# The two commands of the README: `make demo` and `make test`.
# Both build .venv when it is missing (interpreter chosen by tools/find-python) and
# install the package editable with its extras first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.neurocosim-installed
DEMO_DIR ?= build/demo

.PHONY: demo test venv lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml tools/find-python
	@set -e; read -r interp flavour < <(tools/find-python); \
	if [ ! -x "$(PY)" ]; then echo "creating $(VENV) with $$interp"; "$$interp" -m venv $(VENV); fi; \
	extras="dev"; if [ "$$flavour" = "lava" ]; then extras="dev,lava"; fi; \
	$(PY) -m pip install --quiet --upgrade pip; \
	$(PY) -m pip install --quiet -e ".[$$extras]"; \
	$(PY) -m neurocosim.hwsim.warmup; \
	touch $(STAMP)

# the side environments of the tests against aihwkit, lava-dl and the PyTorch frameworks are
# built in the background while the suite runs (tests/side_env.sh takes a lock: a test that
# needs one waits for its build; a build that fails fails that test)
SIDE_ENVS := tests/devices/aihwkit_env.sh tests/targets/lavadl_env.sh tests/frontends/torch_env.sh

test: $(STAMP)
	@mkdir -p build/side-envs; for s in $(SIDE_ENVS); do \
	  n=$$(basename $$s .sh); if [ ! -f ".venv-$${n%_env}/.ready" ]; then \
	    (bash $$s > build/side-envs/$$n.log 2>&1 &); fi; done
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check neurocosim tests examples bench

demo: $(STAMP)
	@mkdir -p $(DEMO_DIR)
	$(PY) examples/digits_demo.py --out $(DEMO_DIR)
	$(PY) examples/transformer_study.py --out $(DEMO_DIR)/transformer --figures $(DEMO_DIR)/transformer --force

clean:
	rm -rf $(VENV) build .pytest_cache
