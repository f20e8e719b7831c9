# Two commands on a fresh machine with only python3: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint up clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing plandeploy and its dependencies into $(VENV) (first run takes a few minutes) ..."
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/plandeploy demo

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

up: setup
	$(BIN)/plandeploy up

clean:
	rm -rf $(VENV) .plandeploy *.egg-info
