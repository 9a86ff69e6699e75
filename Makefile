# Everything a fresh clone needs, with only Python 3.11+ present.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := -m pip --quiet --disable-pip-version-check

.PHONY: run test bench clean constraints

# The versions pinned in constraints.txt, not whatever is newest today: every install the same.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python $(PIP) install -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/huddle $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest

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
