# albench: `make setup && make bench` runs the default benchmark; `make test` runs the test suite (CPU).
PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
STRATEGY ?=
DATA     ?= digits
SEEDS    ?=
CONFIG   ?=
DEVICE   ?=
OUT      ?= results
EXECUTOR ?= local
WORKERS  ?= 1
ARGS     ?=
EXTRAS   ?= dev

RUN_FLAGS = --data $(DATA) --out $(OUT) --executor $(EXECUTOR) --workers $(WORKERS) \
	$(if $(STRATEGY),--strategy $(STRATEGY)) $(if $(SEEDS),--seeds $(SEEDS)) \
	$(if $(CONFIG),--config $(CONFIG)) $(if $(DEVICE),--device $(DEVICE)) $(ARGS)

.PHONY: setup test test-all bench figures list report perf clean

setup:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[$(EXTRAS)]"

test:
	$(PY) -m pytest -q -m "not slow and not gpu"

test-all:
	$(PY) -m pytest -q

bench:
	$(PY) -m bench run $(RUN_FLAGS)
	$(PY) -m bench figures --out $(OUT)

figures:
	$(PY) -m bench figures --out $(OUT)

report:
	$(PY) -m bench report --out $(OUT)

list:
	$(PY) -m bench list

perf:
	$(PY) -m bench.perf $(if $(DEVICE),--device $(DEVICE)) $(ARGS)

clean:
	rm -rf $(OUT)/*/ .pytest_cache
