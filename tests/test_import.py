"""`import mmtok` stays light: no gradio ever, and heavy media/model libraries only when used."""

import subprocess
import sys

import mmtok

HEAVY = ("gradio", "timm", "torchaudio", "av", "vector_quantize_pytorch", "torchvision", "ray", "pyarrow", "pandas")


def test_import_is_light():
    code = f"import sys, mmtok; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""


def test_data_imports_ray_only_to_run():
    """mmtok.data.pipeline (the scale extra) reads and writes shards with pyarrow; Ray loads when a corpus is tokenized."""
    code = "import sys, mmtok.data; print('ray' in sys.modules, 'pyarrow' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True"]


def test_public_api_is_re_exported():
    for name in ("TextTokenizer", "TokenSequence", "collate", "pack_rows", "MmtokError", "pack", "Segment",
                 "Vocab", "Modality", "SPECIAL_TOKENS"):
        assert hasattr(mmtok, name), name
    assert set(mmtok.__all__) <= set(dir(mmtok))
    for name in mmtok.__all__:
        obj = getattr(mmtok, name)
        if isinstance(obj, type) and issubclass(obj, Warning):
            assert issubclass(obj, mmtok.MmtokWarning), name
        elif isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, mmtok.MmtokError), name
