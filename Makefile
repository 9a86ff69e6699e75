# Everything a fresh clone needs, with only Python 3.11+ present.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := -m pip --quiet --disable-pip-version-check

.PHONY: run test bench clean constraints postgresql

# The versions pinned in constraints.txt, not whatever is newest today: every install the same.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python $(PIP) install -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/huddle $(ARGS)

test: $(STAMP) postgresql
	$(BIN)/python -m pytest

# The store's tests start a throwaway PostgreSQL server of their own (on a Unix socket, in a
# temporary folder): its server programs come from the system's packages when missing.
PG_FOUND := $(firstword $(shell command -v initdb 2>/dev/null) $(wildcard /usr/lib/postgresql/*/bin/initdb))
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
postgresql:
ifeq ($(PG_FOUND),)
	@command -v apt-get >/dev/null || { echo "make: the tests need PostgreSQL's server programs (initdb, pg_ctl): install them from your system's packages" >&2; exit 1; }
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
endif

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
