# blurkit: two commands do all set-up.
#   make test       create .venv if missing, install, run the whole test suite (pytest, the notebooks through papermill,
#                   nbval on the notebooks); writes nothing into the checkout
#   make reproduce  create .venv, install, fetch the embedded default data, run `blurkit reproduce all --profile smoke`
#   make lab        install the `lab` extra (JupyterLab) and open the notebooks in it
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= smoke
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install system-photos data test reproduce notebooks lab clean-venv

$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# Debian's wallpaper packages hold most of the real photographs; installed where apt is available, skipped elsewhere.
system-photos:
	@bash scripts/install_system_photos.sh

data: install system-photos
	$(VENV)/bin/blurkit data prepare --profile $(PROFILE)

# The test run writes nothing into the checkout: the notebooks run once through papermill (`blurkit reproduce`, its
# parameters and the provenance beside every result are then checked) and once in place by nbval (the stored
# outputs of each summary cell are compared), with results and the baselines' work cache in a temporary folder.
test: install system-photos
	$(PY) -m pytest -q tests
	@set -e; tmp="$$(mktemp -d "$${TMPDIR:-/tmp}/blurkit-test.XXXXXX")"; trap 'rm -rf "$$tmp"' EXIT; \
	export BLURKIT_WORK_DIR="$$tmp/work"; \
	echo "+ blurkit reproduce all --profile smoke --results-dir $$tmp/papermill"; \
	$(VENV)/bin/blurkit reproduce all --profile smoke --results-dir "$$tmp/papermill"; \
	BLURKIT_REPRODUCED="$$tmp/papermill" $(PY) -m pytest -q -p no:cacheprovider tests/experiments/test_reproduced.py; \
	echo "+ pytest --nbval-lax notebooks/ (results in $$tmp/nbval)"; \
	BLURKIT_RESULTS_DIR="$$tmp/nbval" $(PY) -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider notebooks/

reproduce: data
	$(VENV)/bin/blurkit reproduce all --profile $(PROFILE)

notebooks: install
	$(PY) scripts/sync_notebooks.py

# JupyterLab on the notebooks (installs the `lab` extra into the venv first); the interactive notebook 09 needs it.
lab: install
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,lab]"
	$(VENV)/bin/jupyter lab notebooks/

clean-venv:
	rm -rf $(VENV)
