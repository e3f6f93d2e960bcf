# Two commands matter: `make demo` and `make test`. Both install what is missing, idempotently.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch must be installed first, pinned, so that nothing later resolves a (CUDA) build from the index.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,privacy,review,twins,trials,gpl,images,federated
STAMP := $(VENV)/.jumeau-installed
DEMO_OUT ?= demo-output
LINTED := $(wildcard src tests benchmarks)

.PHONY: install chromium demo test lint typecheck unit clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=23"
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@if $(BIN)/python -m pip list 2>/dev/null | grep -i nvidia; then \
		echo "error: an nvidia-* package was installed; install torch==2.13.0 (CPU) first" >&2; exit 1; fi
	@touch $(STAMP)

# The review app's end-to-end test drives Debian's chromium (Playwright brings no browser here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
			|| { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
			|| echo "note: could not install chromium; the browser test will be skipped" >&2; \
		else echo "note: chromium missing and not installable here; the browser test will be skipped" >&2; fi; }

demo: install
	$(BIN)/jumeau demo --output $(DEMO_OUT)

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: install
	$(BIN)/mypy src

unit: install chromium
	$(BIN)/pytest -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
