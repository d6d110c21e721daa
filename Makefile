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
# two trials at a time, one torch thread each, where there are two cores: `make bench` (24 digits trials) took
# 131 s so against 255 s one after another (one process, two threads) on the 2-core CPU machine
EXECUTOR ?= pool
WORKERS  ?= $(shell nproc 2>/dev/null | awk '{print ($$1 >= 2) ? 2 : 1}')
ARGS     ?=
EXTRAS   ?= dev
PROFILE  ?= smoke
ONLY     ?=
STUDY    ?= imbalance
DATA_ROOT ?=

# PROFILE=cpu on the command line runs `make bench` at that scale profile's recipe (width 16, 30 epochs, ...)
RUN_FLAGS = --data $(DATA) --out $(OUT) --executor $(EXECUTOR) --workers $(WORKERS) \
	$(if $(filter command line,$(origin PROFILE)),--profile $(PROFILE)) \
	$(if $(STRATEGY),--strategy $(STRATEGY)) $(if $(SEEDS),--seeds $(SEEDS)) \
	$(if $(CONFIG),--config $(CONFIG)) $(if $(DEVICE),--device $(DEVICE)) $(ARGS)

.PHONY: setup test test-all lint bench fig3b figures list report perf paper study gpu-check verify clean

setup:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[$(EXTRAS)]"

test:
	$(PY) -m pytest -q -m "not slow and not gpu"

test-all:
	$(PY) -m pytest -q

# the house style: pyflakes, import order, pycodestyle's errors, lines <= 120 (pyproject.toml's [tool.ruff])
lint:
	$(PY) -m ruff check .

bench:
	$(PY) -m bench run $(RUN_FLAGS)
	$(PY) -m bench figures --out $(OUT)

# the Fig. 3(b) grid at the paper protocol (its datasets, strategies and seeds are the manifest's), concurrent
# trials on the machine's GPUs, then the report under $(OUT)/paper-paper/; prints its wall time
fig3b:
	$(PY) -m bench paper --profile paper --only fig3b --out $(OUT) --executor pool \
		--workers $(if $(filter command line,$(origin WORKERS)),$(WORKERS),8) $(if $(DEVICE),--device $(DEVICE)) \
		$(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(ARGS)

figures:
	$(PY) -m bench figures --out $(OUT)

report:
	$(PY) -m bench report --out $(OUT)

list:
	$(PY) -m bench list

# every trial under $(OUT): complete, consistent, checksums; exits 1 naming each failure
verify:
	$(PY) -m bench verify $(OUT)

perf:
	$(PY) -m bench.perf $(if $(DEVICE),--device $(DEVICE)) $(ARGS)

# the paper's figures and tables at a scale profile (smoke | cpu | paper): the missing trials, then the report
# under $(OUT)/paper-$(PROFILE)/; `albench paper --profile P --plan` says what they cost first
# (ONLY=, STRATEGIES=, SEEDS=: only those artifacts, strategy labels, seeds)
paper:
	$(PY) -m bench paper --profile $(PROFILE) --out $(OUT) --executor $(EXECUTOR) --workers $(WORKERS) \
		$(if $(ONLY),--only $(ONLY)) $(if $(STRATEGIES),--strategies $(STRATEGIES)) $(if $(SEEDS),--seeds $(SEEDS)) \
		$(if $(DEVICE),--device $(DEVICE)) \
		$(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(ARGS)

# a study beside the paper (configs/studies/$(STUDY).yaml; default: the imbalance leaderboard) at a scale profile,
# in the same results tree: the missing trials, then its report under $(OUT)/paper-$(PROFILE)/report-$(STUDY)/
study:
	$(PY) -m bench study $(STUDY) --profile $(PROFILE) --out $(OUT) --executor $(EXECUTOR) --workers $(WORKERS) \
		$(if $(ONLY),--only $(ONLY)) $(if $(STRATEGIES),--strategies $(STRATEGIES)) $(if $(SEEDS),--seeds $(SEEDS)) \
		$(if $(DEVICE),--device $(DEVICE)) $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(ARGS)

# one prepared script for a GPU machine (<= 12 min; tiny on a CPU): GPU tests, perf sections, a Fig. 3(b) trial
gpu-check:
	$(PY) -m bench.perf.gpu_check --out $(OUT)/gpu-check $(if $(DEVICE),--device $(DEVICE)) \
		$(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(ARGS)

clean:
	rm -rf $(OUT)/*/ .pytest_cache
