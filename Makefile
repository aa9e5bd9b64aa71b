# MedSeg: `make demo` and `make test` work from a fresh clone; each target runs `setup` first.
# setup makes .venv in the checkout and installs everything, in the order the packages need:
#   torch 2.13.0 first (pinned: it takes the machine's CPU wheel; unpinned pulls GB of CUDA),
#   numpy + versioneer, then pyradiomics 3.0.1 with --no-build-isolation (the 3.1.0 sdist's metadata is broken),
#   then this project with its extras (slicer-core for the MRML tests, highdicom, itk-growcut, pytest-xdist).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.setup-stamp
PYTEST_ARGS ?= -n 2 --durations=15

.PHONY: setup demo test bench browser clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PY) scripts/check_torch.py
	$(PIP) install --quiet numpy versioneer
	$(PIP) install --quiet --no-build-isolation pyradiomics==3.0.1
	$(PIP) install --quiet -e '.[test,dicomseg,slicer,unet,mesh,grow]'
	$(PIP) install --quiet --no-deps lungmask==0.2.22  # only its R231 network code, for benchmarks/bench_unet.py
	@touch $(STAMP)
	@echo "setup: done ($(VENV))"

demo: setup
	$(VENV)/bin/medseg demo -o out/demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/run_all.py

# Debian's Chromium, for the browser test of report.html (that test skips, saying so, without it).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || echo "browser: could not install chromium; the report browser test will skip"

clean-venv:
	rm -rf $(VENV)
