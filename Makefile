# Everything a fresh machine needs: `make run` (the main job) and `make test` (the suite).
# Both create .venv and install the pinned dependency set on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mmtok-installed

.PHONY: install run test bench lock clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -c requirements.lock -e '.[demo,test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/mmtok tokenize assets/examples/multilingual.txt assets/images/chelsea.png assets/video/cityCC0.mpg assets/audio/speech_en.wav

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_sequence.py
	$(BIN)/python benchmarks/bench_image.py
	$(BIN)/python benchmarks/bench_video.py
	$(BIN)/python benchmarks/bench_audio.py
	$(BIN)/python benchmarks/bench_vq.py
	$(BIN)/python benchmarks/bench_decoder.py

lock: $(STAMP)
	{ head -2 requirements.lock; $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
