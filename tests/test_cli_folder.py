"""``mmtok tokenize FOLDER`` (every file its own sequence, like the file given alone) and ``--with-sound`` in
tokenize, budget and roundtrip. In-process (``main`` prints as the command does)."""

import io
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

import mmtok
from mmtok.cli import main
from sounds import clip_with_sound

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tok():
    return mmtok.MultimodalTokenizer.default()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """4 s of 64x48 H.264 with an AAC sound track."""
    return clip_with_sound(tmp_path_factory.mktemp("clip") / "av.mp4")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:  # the progress bar draws itself only on a terminal
        return True


def test_a_folder_is_tokenized_file_by_file(tmp_path, tok, monkeypatch, capsys):
    """Sorted by relative path, recursive; each saved sequence equals the file given alone to the command and to
    the library; a broken file is one error line (and its earlier save is removed), the others go on; status 1."""
    d, out = tmp_path / "in", tmp_path / "out"
    (d / "sub").mkdir(parents=True)
    shutil.copy(ROOT / "assets/examples/multilingual.txt", d / "b.txt")
    shutil.copy(ROOT / "assets/images/chelsea.png", d / "sub" / "a.png")
    shutil.copy(ROOT / "assets/audio/speech_ja.wav", d / "a.wav")
    (d / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (out / "sub" / "broken.png").mkdir(parents=True)
    (out / "sub" / "broken.png" / "manifest.json").write_text("{}")  # an earlier save of it
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert main(["tokenize", str(d), "--save", str(out)]) == 1
    err = re.split(r"[\r\n]", sys.stderr.getvalue())
    monkeypatch.undo()
    printed = capsys.readouterr().out.splitlines()
    files = ["a.wav", "b.txt", "sub/a.png"]
    expected = {"a.wav": tok([mmtok.Audio(d / "a.wav")]), "b.txt": tok([(d / "b.txt").read_text(encoding="utf-8")]),
                "sub/a.png": tok([mmtok.Image(d / "sub" / "a.png")])}
    assert [line.split() for line in printed[:-1]] == [[f"{len(expected[f]):,}", kind, f] for f, kind in
                                                       zip(files, ["audio", "text", "image"])]
    total = sum(len(s) for s in expected.values())
    assert printed[-1] == f"4 files: 3 tokenized ({total:,} tokens), 1 failed; saved under {out}"
    assert [e for e in err if e.startswith("mmtok:")] == [e for e in err if "broken.png" in e]
    assert len([e for e in err if e.startswith("mmtok: error:")]) == 1
    assert any(re.match(r"tokenize: 100%.*4/4", e) for e in err)  # the progress bar, on a terminal
    assert not (out / "sub" / "broken.png" / "manifest.json").exists()
    assert sorted(p.relative_to(out).parent.as_posix() for p in out.rglob("manifest.json")) == files
    for f in files:
        saved = mmtok.TokenSequence.load(out / f)
        assert main(["tokenize", str(d / f), "--save", str(tmp_path / "one" / f)]) == 0
        assert saved.equals(mmtok.TokenSequence.load(tmp_path / "one" / f)), f
        assert saved.input_ids.tolist() == expected[f].input_ids.tolist(), f
    capsys.readouterr()
    assert main(["tokenize", str(d / "sub"), "--json"]) == 1  # one JSON object per line, the summary on stderr
    out_json, err_json = capsys.readouterr()
    (line,) = out_json.splitlines()
    assert json.loads(line) == {"file": "a.png", "manifest": expected["sub/a.png"].to_manifest()}
    assert err_json.endswith(f"2 files: 1 tokenized ({len(expected['sub/a.png']):,} tokens), 1 failed\n")


def test_with_sound_in_tokenize(clip, tok, tmp_path, capsys):
    assert main(["tokenize", str(clip), "--with-sound", "--save", str(tmp_path / "s")]) == 0
    saved = mmtok.TokenSequence.load(tmp_path / "s")
    assert saved.equals(tok([mmtok.Video(clip, audio=True)]))
    (clip_span,) = saved.spans[1:]  # the clip with its sound is one span: frames and their sound slices inside
    assert clip_span.sound_features > 0 and len(clip_span.meta.slices) == 16  # a sound slice after each frame
    capsys.readouterr()
    assert main(["tokenize", str(clip), "--json"]) == 0  # without it: the frames only
    frames_only = json.loads(capsys.readouterr().out)
    assert [s["modality"] for s in frames_only["spans"]] == ["control", "video"]
    # a model that reads no sound with a clip: its advice in the flag's words
    assert main(["tokenize", "--model", "qwen2-vl", "--with-sound", str(clip)]) == 2
    err = capsys.readouterr().err
    assert "qwen2-vl takes no audio" in err and err.endswith("drop --with-sound\n") and "audio=True" not in err


def test_with_sound_in_budget_compares_like_with_like(clip, tok, capsys):
    rows = "mmtok,gemini-api,qwen2-vl"

    def table(*flags):
        assert main(["budget", str(clip), "--models", rows, *flags]) == 0
        out, err = capsys.readouterr()
        return {line.split()[0]: line.split() for line in out.splitlines()[1:4]}, out, err

    without, _, note = table()
    assert int(without["mmtok"][5]) == len(tok([mmtok.Video(clip)]))
    assert "gemini-api counts a clip's sound" in note and "--with-sound" in note
    with_sound, out, note = table("--with-sound")
    assert int(with_sound["mmtok"][5]) == len(tok([mmtok.Video(clip, audio=True)])) > int(without["mmtok"][5])
    assert with_sound["gemini-api"] == without["gemini-api"]  # its count always held the sound
    assert " ".join(with_sound["qwen2-vl"]).endswith("piece 0 (video)")
    assert "qwen2-vl takes no audio" in out and "drop --with-sound" in out and note == ""
    silent = ROOT / "assets/video/cityCC0.mpg"
    assert main(["budget", str(silent), "--models", "mmtok", "--with-sound"]) == 0
    assert "has no sound track: --with-sound reads its frames only" in capsys.readouterr().err


def test_with_sound_in_roundtrip(clip, tok, capsys):
    assert main(["roundtrip", str(clip), "--with-sound"]) == 0
    report = json.loads(capsys.readouterr().out)
    sound = tok.audio.encode(clip)
    assert report["exact"] is True and report["frames"] == 16
    assert report["sound"]["tokens"] == len(sound.tokens) == tok.audio.num_tokens(sound.duration)
    assert report["sound"]["preset"] == tok.layout.audio.preset and report["sound"]["mel_mean_abs"] > 0
    assert main(["roundtrip", str(clip)]) == 0 and "sound" not in json.loads(capsys.readouterr().out)
