# annslicer — see README.md. Every target installs what is missing first.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
export CGO_ENABLED := 1
PYTHON := /usr/bin/python3
# current anndata / zarr 3 (made by scripts/setup.sh --test from testdata/requirements-current.txt)
VENV_PYTHON := .venv/bin/python
GO ?= go

.PHONY: all setup build demo test bench clean

all: build

setup:
	@scripts/setup.sh

build: setup
	$(GO) build -o bin/annslicer ./cmd/annslicer

demo: build
	@scripts/demo.sh

# go test's timeout only catches a hang: cmd/annslicer alone takes 18-30
# min on this project's 2-core machine (29.5 on a slow day), more with the
# other core busy
test: build
	@scripts/setup.sh --test
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...
	$(PYTHON) -m pytest -q testdata python/tests
	$(VENV_PYTHON) -m pytest -q python/tests

bench: build
	@bench/run.sh

clean:
	rm -rf bin build bench/out
# .venv, .venv-pytool and testdata/cache are kept: they are slow to remake
# and reused as they are (rm -rf them to start over)
