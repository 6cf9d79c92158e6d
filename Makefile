# Everything a fresh machine needs: `make run` (the main job: the demo) and `make test` (the suite).
# Both create .venv and install the pinned dependency set on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mmtok-installed
BENCH_STAMP := $(VENV)/.mmtok-bench-installed

.PHONY: install run tokenize lint test bench lock clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -c requirements.lock -e '.[demo,test,scale]'
	touch $(STAMP)

install: $(STAMP)

# The benchmarks' baselines that the suite does not need (the `bench` extra: torchcodec).
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check -q -c requirements.lock -e '.[bench]'
	touch $(BENCH_STAMP)

run: $(STAMP)
	$(BIN)/mmtok demo --host 127.0.0.1 --port 7860

tokenize: $(STAMP)
	$(BIN)/mmtok tokenize assets/examples/multilingual.txt assets/images/chelsea.png assets/video/cityCC0.mpg assets/audio/speech_en.wav

# The layer contracts of pyproject.toml ([tool.importlinter]) and ruff's checks; `make test` runs them first.
lint: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check mmtok demos tests benchmarks

# Every run checks for Debian's chromium (the demo's browser test) and installs it when missing; without it the
# browser test fails here (MMTOK_REQUIRE_BROWSER) instead of being skipped. run and tokenize do not need it.
test: lint
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	  || { echo "mmtok: make test needs Debian's chromium for the demo's browser test and could not install it:" \
	       "run 'apt-get install chromium' as root (or '$(BIN)/python -m pytest' to skip that test)" >&2; exit 1; }
	MMTOK_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q

# Every benchmark, then RESULTS.md's current part regenerated (benchmarks/run_all.py); `make bench BUSY=2` runs them
# beside two busy processes. torchcodec (the video benchmark's baseline) loads FFmpeg's shared libraries from the
# system: every run checks for Debian's ffmpeg package and installs it when missing. The tests never need either.
bench: $(BENCH_STAMP)
	command -v ffmpeg >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg; } \
	  || { echo "mmtok: make bench needs Debian's ffmpeg (FFmpeg's shared libraries, for torchcodec in the video" \
	       "benchmark) and could not install it: run 'apt-get install ffmpeg' as root" >&2; exit 1; }
	$(BIN)/python benchmarks/run_all.py $(if $(BUSY),--busy $(BUSY))

lock: $(STAMP)
	{ head -2 requirements.lock; $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
