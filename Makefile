# MedSeg: `make demo` and `make test` work from a fresh clone; each target runs `setup` first.
# setup makes .venv in the checkout and installs everything, in the order the packages need:
#   torch 2.13.0 first (pinned: it takes the machine's CPU wheel; unpinned pulls GB of CUDA),
#   numpy + versioneer, then pyradiomics 3.0.1 with --no-build-isolation (the 3.1.0 sdist's metadata is broken),
#   then this project with its extras (slicer-core for the MRML tests, highdicom, itk-growcut, pytest-xdist, vermin).
# setup-pydicom24 makes .venv-pydicom24: the same Python with pydicom 2.4.4 (what Slicer 5.8 and 5.10
#   bundle) and the package's other dependencies; `make test` runs the DICOM tests (io/, phantom/) in it too.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.setup-stamp
PYTEST_ARGS ?= -n 2 --durations=15
VENV24  := .venv-pydicom24
PY24    := $(VENV24)/bin/python
STAMP24 := $(VENV24)/.setup-stamp
# seg.nrrd's tests need slicer-core and no pydicom; highdicom needs pydicom 3 (its tests skip, saying so).
PYDICOM24_TESTS := Testing/io Testing/phantom --ignore=Testing/io/test_segnrrd.py

.PHONY: setup setup-pydicom24 demo test bench fuzz browser clean-venv

setup: $(STAMP)

setup-pydicom24: $(STAMP24)

$(STAMP24): pyproject.toml Makefile
	@test -x $(PY24) || $(PYTHON) -m venv $(VENV24)
	$(PY24) -m pip install --quiet --upgrade pip
	$(PY24) -m pip install --quiet -e . 'pydicom==2.4.4' pytest pytest-xdist
	@touch $(STAMP24)
	@echo "setup-pydicom24: done ($(VENV24))"

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

test: setup setup-pydicom24
	$(PY) -m pytest $(PYTEST_ARGS)
	$(PY24) -m pytest $(PYDICOM24_TESTS) -n 2 -q

bench: setup
	$(PY) benchmarks/run_all.py

# 10 000 seeded cases through medseg.io.load (forked children, memory limit, timeout), then, when
# atheris installs, 2 000 coverage-guided ones (each run twice: ~4/s); counts in out/fuzz-*.json
# (README, "Data safety").
FUZZ_CASES ?= 10000
FUZZ_ATHERIS_CASES ?= 2000
fuzz: setup
	@mkdir -p out
	-@$(PIP) install --quiet 'atheris>=2.3' 2>/dev/null
	$(PY) Testing/robustness/fuzz.py --engine seeded --cases $(FUZZ_CASES) --jobs 2 --json out/fuzz-seeded.json
	@if $(PY) -c "import atheris" 2>/dev/null; then \
	  $(PY) Testing/robustness/fuzz.py --engine atheris --cases $(FUZZ_ATHERIS_CASES) --json out/fuzz-atheris.json; \
	else echo "fuzz: atheris is not installed (pip install atheris): coverage-guided run skipped"; fi

# Debian's Chromium, for the browser test of report.html (that test skips, saying so, without it).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || echo "browser: could not install chromium; the report browser test will skip"

clean-venv:
	rm -rf $(VENV) $(VENV24)
