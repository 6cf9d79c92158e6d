"""Rebuild the default text model: an openly licensed multilingual corpus from Debian, then SentencePiece.

Run ``mmtok train-text`` (or ``python -m mmtok.training.text``). It needs Debian's ``apt-get`` and ``dpkg-deb``
(it downloads the documentation packages below with ``apt-get download`` into a cache folder; nothing is
installed on the system) and writes ``assets/text/mmtok-text-32k.model`` plus ``sources.json`` (every source
file with its package, version and licence) and ``training.json`` (settings, corpus size, time).

Corpus (not committed; rebuilt by this script):
- ``debian-reference-{en,de,fr,ja,zh-cn}``: the Debian Reference as plain text (GPL-2+).
- ``debian-handbook``: The Debian Administrator's Handbook in every shipped language, HTML to text
  (GPL-2.0+ or CC-BY-SA-3.0).

The model follows Gemma's SentencePiece settings: BPE, byte fallback, digits split into single pieces,
whitespace kept as is (identity normalization, no dummy prefix, no whitespace folding), whitespace-only pieces
allowed. The vocabulary has no BOS/EOS/PAD of its own: those live in the unified vocabulary (``mmtok.vocab``).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import html.parser
import json
import os
import sys
import time
from pathlib import Path

from ..core.bundled import asset_path
from .debian import default_cache, fetch_packages

REFERENCE_LANGS = ("en", "de", "fr", "ja", "zh-cn")
PACKAGES = tuple(f"debian-reference-{lang}" for lang in REFERENCE_LANGS) + ("debian-handbook",)
LICENCES = {"debian-reference": "GPL-2+", "debian-handbook": "GPL-2.0+ or CC-BY-SA-3.0"}
VOCAB_SIZE = 32768
SEED = 1234
MODEL_NAME = "mmtok-text-32k"


class _HTMLText(html.parser.HTMLParser):
    """Visible text of an HTML page, one block element per line; scripts and styles dropped."""

    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "dt", "dd", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        return "".join(self.parts)


def _html_to_lines(raw: str) -> list[str]:
    p = _HTMLText()
    p.feed(raw)
    return _clean_lines(p.text())


def _clean_lines(text: str) -> list[str]:
    # Keep the text as written (tabs, runs of spaces) but drop blank lines: SentencePiece trains on lines.
    return [line.rstrip("\n") for line in text.splitlines() if line.strip()]


def build_corpus(cache: Path, corpus: Path) -> list[dict]:
    """Write the training corpus (one line per text line) and return the list of sources used."""
    pkgs = fetch_packages(PACKAGES, cache)
    sources, lines_out = [], []
    for lang in REFERENCE_LANGS:
        pkg = f"debian-reference-{lang}"
        root = pkgs[pkg]["root"]
        for f in sorted(glob.glob(str(root / "usr/share/debian-reference/*.txt.gz"))):
            lines = _clean_lines(gzip.open(f, "rt", encoding="utf-8").read())
            lines_out += lines
            sources.append({"package": pkg, "version": pkgs[pkg]["version"], "licence": LICENCES["debian-reference"],
                            "file": os.path.relpath(f, root), "language": lang, "lines": len(lines)})
    root = pkgs["debian-handbook"]["root"]
    html_root = root / "usr/share/doc/debian-handbook/html"
    for lang_dir in sorted(p for p in html_root.iterdir() if p.is_dir()):
        n = 0
        for f in sorted(lang_dir.glob("*.html")):
            lines = _html_to_lines(f.read_text(encoding="utf-8", errors="strict"))
            lines_out += lines
            n += len(lines)
        sources.append({"package": "debian-handbook", "version": pkgs["debian-handbook"]["version"],
                        "licence": LICENCES["debian-handbook"], "file": os.path.relpath(lang_dir, root) + "/*.html",
                        "language": lang_dir.name, "lines": n})
    corpus.parent.mkdir(parents=True, exist_ok=True)
    with open(corpus, "w", encoding="utf-8") as fh:
        for line in lines_out:
            # SentencePiece reads one sentence per line; very long lines are skipped by the trainer, so
            # cut them at whitespace into pieces of at most 4000 characters instead.
            while len(line) > 4000:
                cut = line.rfind(" ", 0, 4000)
                cut = cut if cut > 0 else 4000
                fh.write(line[:cut] + "\n")
                line = line[cut:]
            fh.write(line + "\n")
    return sources


# Trains in a child process started in the corpus folder (SentencePiece writes its model there, named relative
# to the working directory); the options arrive as JSON in argv[1]. The parent's working directory never changes.
_TRAIN_SCRIPT = """
import json, sys
import sentencepiece as spm
spm.set_random_generator_seed(int(sys.argv[2]))
spm.SentencePieceTrainer.train(**json.loads(sys.argv[1]))
"""


def train(corpus: Path, out_dir: Path, vocab_size: int = VOCAB_SIZE, threads: int = 2) -> Path:
    """Train the SentencePiece model on ``corpus``; returns the ``.model`` path.

    The model file records its trainer settings, so training runs inside the corpus folder with relative names
    and a fixed thread count: the same corpus gives the same bytes on any machine.
    """
    import shutil
    import subprocess

    options = json.dumps(_trainer_options(corpus.name, vocab_size, threads))
    done = subprocess.run([sys.executable, "-c", _TRAIN_SCRIPT, options, str(SEED)], cwd=corpus.parent,
                          capture_output=True, text=True)
    if done.returncode:  # the trainer's own error (a RuntimeError in the child), e.g. a vocabulary too large
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
        raise RuntimeError(f"SentencePiece training on {corpus} failed: {why}")
    out_dir.mkdir(parents=True, exist_ok=True)
    model = out_dir / f"{MODEL_NAME}.model"
    shutil.move(corpus.parent / f"{MODEL_NAME}.model", model)
    (corpus.parent / f"{MODEL_NAME}.vocab").unlink(missing_ok=True)
    return model


def _trainer_options(corpus_name: str, vocab_size: int, threads: int) -> dict:
    """SentencePiece trainer options (Gemma's settings, see the module docstring); names relative to the corpus
    folder, where training runs."""
    return dict(
        input=corpus_name,
        model_prefix=MODEL_NAME,
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=0.9995,
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        allow_whitespace_only_pieces=True,
        split_by_whitespace=True,
        max_sentence_length=16384,
        input_sentence_size=1_500_000,
        shuffle_input_sentence=True,
        unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
        user_defined_symbols=["\n"],
        num_threads=threads,
        minloglevel=2,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mmtok train-text", description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=default_cache("text-corpus"),
                    help="where packages and the corpus are kept")
    ap.add_argument("--out", type=Path, default=asset_path("text"))
    ap.add_argument("--vocab-size", type=int, default=VOCAB_SIZE)
    args = ap.parse_args(argv)
    t0 = time.time()
    corpus = args.cache / "corpus.txt"
    sources = build_corpus(args.cache, corpus)
    t1 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    model = train(corpus.resolve(), args.out.resolve(), args.vocab_size)
    t2 = time.time()
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    (args.out / "sources.json").write_text(json.dumps(sources, indent=1, ensure_ascii=False) + "\n")
    record = {
        "model": model.name, "sha256": digest, "vocab_size": args.vocab_size, "seed": SEED,
        "corpus_bytes": corpus.stat().st_size, "corpus_lines": sum(s["lines"] for s in sources),
        "packages": sorted({f"{s['package']}={s['version']}" for s in sources}),
        "corpus_seconds": round(t1 - t0, 1), "train_seconds": round(t2 - t1, 1), "threads": 2,
        "machine": f"{os.cpu_count()} cores",
    }
    (args.out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
