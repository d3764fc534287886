# Picasso Me — `make run` and `make test` work from a fresh clone (they build .venv first).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench bench-gpu gallery scale scale-all styles clean postgres docker-check

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## Fetch and verify the preset paintings into STYLES_DIR (STYLES_SOURCE: a folder or mirror URL).
styles: $(STAMP)
	$(PY) -m engine styles fetch

## Run the bot and its engine (reads .env; see .env.example).
run: $(STAMP)
	-$(PY) -m engine styles fetch
	$(PY) -m bot

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## The tests start a throwaway PostgreSQL server: install Debian's binaries when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
		echo "installing PostgreSQL (the tests start their own throwaway server)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

## The suite in TEST_PROCESSES processes (pytest-xdist), each test file in one of them: much of
## it waits on subprocesses, servers and the network, so two beat one even on two cores. The
## longest files start first (tests/conftest.py LONGEST_FIRST), in that order.
TEST_PROCESSES ?= 2
test: lint postgres
	$(VENV)/bin/pytest -n $(TEST_PROCESSES) --dist loadfile --no-loadscope-reorder

## CPU benchmarks: the engine against the plain reference, fp32 against PRECISION=auto and the
## bot + engine against the CLI, the job table (SQLite and PostgreSQL), the timelapse's cost,
## jobs an hour through the real worker (needs the paintings: `make styles`).
bench: $(STAMP) postgres
	$(PY) -m bench.bench_engine
	$(PY) -m bench.bench_cpu
	$(PY) -m bench.bench_jobs
	$(PY) -m bench.bench_timelapse
	$(PY) -m bench.bench_postgres
	$(PY) -m bench.bench_worker

## The README's contact sheet (docs/gallery.jpg + .json, also the bot's /styles cards): every
## preset at its catalogue defaults on three photos. Rerun when the defaults or the engine change.
gallery: styles
	$(PY) -m bench.gallery

## The look at every size: each founding painting on a benchmark photo at 256 px
## and at the CPU default (576 px), without and with the copies at the look side, judged at
## phone size (docs/scale.jpg), and a crop of each 576 px picture at full size beside the 256 px
## one enlarged (docs/scale-detail.jpg); about 8 minutes on 2 quiet cores of an Intel Xeon.
scale: styles
	$(PY) -m bench.scale --presets starry-night,monet,udnie --photos rocket \
		--sizes 576 --variant before:look_side=0,coarse_weighting=each,plan_from_look=false --tag real --sheet docs/scale.jpg \
		--detail-sheet docs/scale-detail.jpg

## Every preset, each on one benchmark photo in turn, at 256 and 576 px, judged the same way
## (bench/out/scale-all.jpg + .json; about 20 minutes on 2 quiet cores of an Intel Xeon).
SCALE_PAIRS := starry-night:astronaut,monet:astronaut,great-wave:rocket,scream:coffee
SCALE_PAIRS := $(SCALE_PAIRS),composition-vii:astronaut,shipwreck:rocket,seurat:coffee
SCALE_PAIRS := $(SCALE_PAIRS),woman-with-hat:astronaut,cezanne:rocket,mondrian:coffee
SCALE_PAIRS := $(SCALE_PAIRS),klimt:astronaut,cubism:rocket,gauguin:astronaut,udnie:coffee
scale-all: styles
	$(PY) -m bench.scale --pairs $(SCALE_PAIRS) --sizes 576 --tag all

## GPU timings, then jobs an hour through the real worker (run on a CUDA machine).
bench-gpu: $(STAMP)
	$(PY) -m bench.bench_gpu
	$(PY) -m bench.bench_batch --size 768 --iterations 500 --batches 2 4 8
	$(PY) -m bench.bench_worker

## Build the image and run it for real (docker/check.py): one container on SQLite, then
## `docker compose up` with PostgreSQL and two painters, against the tests' fake Bot API.
## Needs root and docker (starts dockerd if none runs); slow (torch), so not part of `test`.
docker-check: $(STAMP)
	$(PY) docker/check.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
