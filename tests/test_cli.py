"""The mmtok command line, run as a user runs it (a real process)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mmtok
from mmtok.cli import main
from mmtok.media.imageio import load_image

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assets" / "examples" / "multilingual.txt"


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "mmtok.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_tokenize_bundled_example_prints_table():
    r = run("tokenize", EXAMPLE, "text:and a literal prompt")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["#", "modality", "tokens", "shape", "seconds", "source"]
    tok = mmtok.TextTokenizer.default()
    n_file = tok.num_tokens(EXAMPLE.read_text(encoding="utf-8"))
    n_lit = tok.num_tokens("and a literal prompt")
    assert lines[1].split()[:3] == ["0", "control", "1"]  # <bos>
    assert lines[2].split()[:3] == ["1", "text", str(n_file)]
    assert lines[3].split()[:3] == ["2", "text", str(n_lit)]
    assert lines[-1].startswith(f"total: {1 + n_file + n_lit:,} tokens")


def test_json_and_save_reload(tmp_path):
    r = run("tokenize", EXAMPLE, "--json", "--save", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    manifest = json.loads(r.stdout)
    seq = mmtok.TokenSequence.load(tmp_path / "out")
    assert seq.to_manifest() == manifest
    tok = mmtok.TextTokenizer.default()
    assert tok.decode(seq.input_ids[1:]) == EXAMPLE.read_text(encoding="utf-8")


def _fifo(d):
    os.mkfifo(d / "pipe")
    return [d / "pipe"]


def _link_to_a_device(d):
    (d / "zero.png").symlink_to("/dev/zero")
    return [d / "zero.png"]


@pytest.mark.parametrize("make, message", [
    (lambda d: ["missing.jpg"], "no such file: missing.jpg; to tokenize it as literal text, write text:missing.jpg"),
    (lambda d: ["./draft"], "no such file: ./draft"),
    (lambda d: (d / "x.bin").write_bytes(b"\xfe\xfe\x00\xd8\x80" * 50) and [d / "x.bin"], "neither UTF-8 text"),
    (lambda d: (d / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20) and [d / "img.png"], "img.png"),
    (lambda d: (d / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 50) and [d / "clip.mp4"],
     "clip.mp4"),
    (lambda d: [d], "is a folder with no files"),
    (lambda d: ["text:hi", d], "is a folder; give it as the only ITEM"),
    (lambda d: (d / "empty.txt").write_bytes(b"") == 0 and [d / "empty.txt"], "is empty"),
    (lambda d: [""], r"ITEM 1 is empty"),  # not "is a folder" (Path("") is the current folder)
    (lambda d: ["text:hi", ""], r"ITEM 2 is empty"),
    (_fifo, r"pipe is not a regular file \(a FIFO\)"),  # refused from its stat: reading it would block
    (_link_to_a_device, r"zero.png is not a regular file \(a device"),
    (lambda d: ["--max-length", "0", "text:hi"], "--max-length 0: give a context limit of at least 1 token"),
])
def test_bad_input_is_one_line_error(tmp_path, capsys, make, message):
    """In-process (main() prints the error as the command does): exit status 2, one line naming the input."""
    import re

    assert main(["tokenize", *map(str, make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("mmtok: error: ") and re.search(message, err), err


def test_context_limit_and_truncate_in_cli_words(capsys):
    """The library's "raise max_length, or pass truncate=True" reads as the flags on the command line."""
    assert main(["tokenize", "text:one two three four", "text:five six seven", "--max-length", "5"]) == 2
    err = capsys.readouterr().err
    assert "exceeds the context limit of 5" in err and "raise --max-length, or add --truncate" in err, err
    assert "truncate=True" not in err and "max_length" not in err
    assert main(["tokenize", "text:one", "text:five six seven eight nine", "--max-length", "3", "--truncate"]) == 0
    assert "truncated:" in capsys.readouterr().out


def test_console_script_installed():
    exe = Path(sys.executable).parent / "mmtok"
    assert exe.exists(), "the mmtok console script is installed with the package"
    r = subprocess.run([exe, "tokenize", "text:hi"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "total:" in r.stdout


def test_media_files_are_tokenized_with_their_modules():
    files = [ROOT / "assets/images/chelsea.png", ROOT / "assets/video/cityCC0.mpg", ROOT / "assets/audio/speech_en.wav"]
    r = run("tokenize", *files, "--json")
    assert r.returncode == 0, r.stderr
    spans = json.loads(r.stdout)["spans"][1:]
    assert [s["modality"] for s in spans] == ["image", "video", "audio"]
    tok = mmtok.MultimodalTokenizer.default()
    assert spans[0]["length"] == tok.image.num_tokens(300, 451) + 2
    assert spans[1]["length"] == tok.video.num_tokens(405, 720) + 16 * 2 + 2
    assert spans[2]["length"] == tok.audio.num_tokens(spans[2]["meta"]["duration"]) + 2


def test_budget_decode_and_roundtrip_commands(tmp_path):
    files = [ROOT / "assets/images/chelsea.png", ROOT / "assets/audio/speech_ja.wav"]
    r = run("budget", *files, "text:hello", "--models", "mmtok,gemini-api")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["model", "mmtok", "gemini-api"]
    seq_len = len(mmtok.MultimodalTokenizer.default()([mmtok.Image(files[0]), mmtok.Audio(files[1]), "hello"]))
    assert lines[1].split()[5] == str(seq_len)
    assert run("tokenize", *files, "text:hi", "--save", tmp_path / "s").returncode == 0
    r = run("decode", tmp_path / "s", "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["00_patches.png", "01_audio.wav", "02.txt"]
    assert (tmp_path / "out" / "02.txt").read_text() == "hi"
    r = run("roundtrip", ROOT / "assets/audio/speech_ja.wav")
    assert r.returncode == 0 and json.loads(r.stdout)["modality"] == "audio"
    r = run("roundtrip", ROOT / "assets/video/cityCC0.mpg")
    assert r.returncode == 0 and json.loads(r.stdout)["exact"] is True
    r = run("budget", files[0], "--models", "mmtok,gpt-9")
    assert r.returncode == 2 and "--models gpt-9: unknown model; choose one of: mmtok, " in r.stderr, r.stderr


def test_roundtrip_through_decoder_needs_a_picture():
    r = run("roundtrip", "--through-decoder", "assets/audio/speech_en.wav")
    assert r.returncode == 2 and "writes images" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_roundtrip_through_decoder_writes_the_picture(tmp_path):
    """The positive path: train, generate, write the PNG. At --image-size 64 (8x8 codes) it is the same loop as the
    default 256x256 round trip (59-83 s on idle machines, benchmarks/RESULTS.md) in about 10 s. One torch thread: the tiny model's
    matrices are too small to share out, and on a busy 2-core machine two threads made this run 20x slower."""
    photo, out = ROOT / "assets/images/chelsea.png", tmp_path / "again.png"
    r = subprocess.run([sys.executable, "-m", "mmtok.cli", "roundtrip", "--through-decoder", photo, "--image-size",
                        "64", "--out", out], capture_output=True, text=True, cwd=ROOT, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["match"] and report["image_match"] and report["codes"] == [8, 8] and report["image"] == str(out)
    vq = mmtok.VQImageTokenizer.default().at_size(64)
    assert torch.equal(load_image(out).pixels, vq.decode(vq.encode(photo)))  # the VQ reconstruction, bit for bit


def test_roundtrip_through_decoder_bad_image_size(capsys):
    """VQConfig's "image_size=60: use a positive multiple of downsample=8" in the flag's words."""
    assert main(["roundtrip", "--through-decoder", str(ROOT / "assets/images/chelsea.png"), "--image-size", "60"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "VQConfig" not in err
    assert "--image-size 60: use a positive multiple of 8, such as 64 or 256" in err, err


def test_tokenize_with_a_model_prints_its_counts_and_saves_its_tensors(tmp_path):
    """``tokenize --model NAME``: the counts are ModelProcessor's, the saved tensors are its hf_inputs."""
    from safetensors.torch import load_file

    photo, clip = ROOT / "assets/images/chelsea.png", ROOT / "assets/video/cityCC0.mpg"
    r = run("tokenize", "--model", "qwen2-vl", "text:Describe", photo, "--save", tmp_path / "q")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    proc = mmtok.ModelProcessor("qwen2-vl")
    assert lines[0] == "model qwen2-vl" and lines[1].split() == ["#", "kind", "tokens", "with", "markers", "source"]
    assert lines[3].split()[:4] == ["1", "image", str(proc.num_tokens(mmtok.Image(photo))),
                                    str(proc.segment_length(mmtok.Image(photo)))]
    saved = load_file(str(tmp_path / "q" / "inputs.safetensors"))
    expected = proc.hf_inputs(["Describe", mmtok.Image(photo)])
    assert saved.keys() == expected.keys() and all(torch.equal(saved[k], expected[k]) for k in expected)
    seq = mmtok.TokenSequence.load(tmp_path / "q" / "sequence")
    assert seq.equals(proc(["Describe", mmtok.Image(photo)]))
    counts = json.loads((tmp_path / "q" / "counts.json").read_text())
    assert [p["kind"] for p in counts["pieces"]] == ["text", "image"]
    r = run("tokenize", "--model", "gemini-api", clip, "--json", "--save", tmp_path / "q")  # counts only: no tensors
    assert r.returncode == 0, r.stderr
    # the save replaced the earlier one completely: no tensors or sequence of the qwen2-vl prompt stay behind
    assert sorted(p.name for p in (tmp_path / "q").rglob("*") if p.is_file()) == ["counts.json"]
    assert json.loads((tmp_path / "q" / "counts.json").read_text())["model"] == "gemini-api"
    out = json.loads(r.stdout)
    assert out["tensors"] == {} and "not an open model" in out["note"]
    assert out["pieces"][0]["tokens"] == mmtok.ModelProcessor("gemini-api").num_tokens(mmtok.Video(clip))
    for args, message in ((("--model", "qwen2-vl", ROOT / "assets/audio/speech_ja.wav"), "qwen2-vl takes no audio"),
                          (("--model", "gpt-9", photo), "--model gpt-9: unknown model; choose one of: chameleon"),
                          (("--model", "qwen2-vl", "--truncate", photo), "--truncate set mmtok's own layout")):
        r = run("tokenize", *args)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    r = run("tokenize", "--help")
    assert all(name in "".join(r.stdout.split()) for name in mmtok.list_models())  # argparse may wrap at a hyphen
