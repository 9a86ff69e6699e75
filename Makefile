# Everything a fresh clone needs, with only Python 3.11+ present.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := -m pip --quiet --disable-pip-version-check

.PHONY: run test bench clean constraints system-packages postgresql bubblewrap chromium

# The versions pinned in constraints.txt, not whatever is newest today: every install the same.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python $(PIP) install -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/huddle $(ARGS)

test: $(STAMP) system-packages
	$(BIN)/python -m pytest -n auto

# What the tests need from the system's packages, installed in one go when missing: the
# store's tests start a throwaway PostgreSQL server of their own (on a Unix socket, in a
# temporary folder); agents' code (run_python, run_shell) runs under bubblewrap; the
# `huddle serve` tests drive a real headless Chromium (or the one HUDDLE_CHROMIUM names).
PG_FOUND       := $(firstword $(shell command -v initdb 2>/dev/null) $(wildcard /usr/lib/postgresql/*/bin/initdb))
BWRAP_FOUND    := $(shell command -v bwrap 2>/dev/null)
CHROMIUM_FOUND := $(firstword $(HUDDLE_CHROMIUM) $(shell command -v chromium chromium-browser 2>/dev/null))
MISSING        := $(strip $(if $(PG_FOUND),,postgresql) $(if $(BWRAP_FOUND),,bubblewrap) $(if $(CHROMIUM_FOUND),,chromium))
SUDO           := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-packages:
ifneq ($(MISSING),)
	@command -v apt-get >/dev/null || { echo "make: the tests need $(MISSING): install them from your system's packages" >&2; exit 1; }
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(MISSING) >/dev/null
endif
postgresql bubblewrap chromium: system-packages

bench: $(STAMP)
	$(BIN)/python -m tests.bench

# On purpose only: the newest versions pyproject.toml allows, resolved in a scratch
# environment, written to constraints.txt (its comments kept). Run `make test`, then commit it.
constraints:
	scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && \
	$(PYTHON) -m venv "$$scratch" && \
	"$$scratch/bin/python" $(PIP) install -e '.[test]' && \
	{ grep '^#' constraints.txt; "$$scratch/bin/python" $(PIP) freeze --exclude-editable; } > constraints.txt.new && \
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info
