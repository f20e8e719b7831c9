# Two commands on a fresh machine with only python3: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint up clean lock fuzz messages

# Every install takes its versions from constraints.txt, so CI and developers test the same set.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing plandeploy and its dependencies into $(VENV) (first run takes a few minutes) ..."
	$(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt -e '.[test]'
	@touch $(STAMP)

# Refresh constraints.txt: upgrade within pyproject.toml's bounds, then record what got installed.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade --upgrade-strategy eager -e '.[test]'
	$(BIN)/python -m pip list --disable-pip-version-check --format=freeze --exclude-editable \
		| grep -viE '^(pip|setuptools|wheel|plandeploy)==' > constraints.txt
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/plandeploy demo

test: setup
	$(BIN)/python -m pytest

# The schema fuzz of CI with a larger budget (SCHEMATHESIS_EXAMPLES cases per operation).
fuzz: setup
	SCHEMATHESIS_EXAMPLES=$${SCHEMATHESIS_EXAMPLES:-200} $(BIN)/python -m pytest -s \
		plandeploy/api/tests/test_schema_fuzz.py -k server_error

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The pages' texts: refresh every catalogue's entries from the code, then compile the .mo
# files (needs GNU gettext). Translate the new entries in the .po files and run it again.
messages: setup
	cd plandeploy/web && DJANGO_SETTINGS_MODULE=plandeploy.settings ../../$(BIN)/python -m django \
		makemessages -a --no-location --no-wrap --no-obsolete -e html,py -i 'tests/*'
	cd plandeploy/web && DJANGO_SETTINGS_MODULE=plandeploy.settings ../../$(BIN)/python -m django \
		compilemessages

up: setup
	$(BIN)/plandeploy up

clean:
	rm -rf $(VENV) .plandeploy *.egg-info
