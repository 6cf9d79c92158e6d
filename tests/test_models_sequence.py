"""ModelProcessor(name)(contents) -> TokenSequence: the model's ids, spans, regrouped features (exactly invertible to
hf_inputs), Qwen-VL's M-RoPE positions, provenance of every token, and the manifest round trip."""

from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

import mmtok
from mmtok.core.model_vocab import ModelVocab, vocab_from_description
from mmtok.core.vocab import Modality, default_vocab
from mmtok.errors import ConfigError, InputError, VocabError
from mmtok.models import ModelProcessor
from mmtok.models.seqmeta import ModelAudioMeta, ModelImageMeta, ModelTextMeta, ModelVideoMeta
from mmtok.models.sequence import hf_inputs_from_sequence
from tiles import assert_tiles
from videos import make_clip

ASSETS = Path(__file__).resolve().parent.parent / "assets"
PHOTOS = sorted((ASSETS / "images").glob("*.png")) + sorted((ASSETS / "images").glob("*.jpg"))
CLIP = ASSETS / "video" / "cityCC0.mpg"
SPEECH = ASSETS / "audio" / "speech_en.wav"


def _cases():
    img = [mmtok.Image(p) for p in PHOTOS]
    return {
        "qwen2-vl": ["Describe ", img[0], " and ", img[3], " please."],
        "qwen2.5-vl": ["A clip: ", mmtok.Video(CLIP), img[1]],
        "qwen3-vl": [img[3], "then ", mmtok.Video(CLIP), " end"],
        "gemma-4": ["Hi ", img[2], " hear ", mmtok.Audio(SPEECH), mmtok.Video(CLIP), "x", img[3]],
        "whisper": [mmtok.Audio(SPEECH), "hello", " there"],
        "whisper-large-v3": [mmtok.Audio(SPEECH), mmtok.Audio(SPEECH)],
        "chameleon": ["Look ", img[1], " now", img[4]],
    }


CASES = _cases()


@pytest.fixture(scope="module")
def made():
    """name -> (processor, contents, sequence, hf_inputs), each made once."""
    out = {}
    for name, contents in CASES.items():
        proc = ModelProcessor(name)
        out[name] = (proc, contents, proc(contents), proc.hf_inputs(contents))
    return out


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("name", list(CASES))
def test_ids_features_and_positions_are_the_models(made, name):
    proc, contents, seq, hf = made[name]
    assert isinstance(seq.vocab, ModelVocab) and seq.vocab.model == name
    if name.startswith("whisper"):
        audio = seq.input_ids == seq.vocab.placeholder(Modality.AUDIO)
        assert int(audio.sum()) == hf["input_features"].shape[0] * 1500
        if "labels" in hf:
            assert torch.equal(seq.input_ids[~audio], hf["labels"][0])
        assert seq.features["audio"].shape == (int(audio.sum()), 2 * hf["input_features"].shape[1])
    else:
        assert torch.equal(seq.input_ids, hf["input_ids"][0])
    _same(hf_inputs_from_sequence(seq), hf)  # the regrouped features give the processor's tensors back, exactly
    assert torch.equal(seq.positions, torch.arange(len(seq)))
    if name.startswith("qwen"):
        assert torch.equal(seq.positions_3d, proc.position_ids(contents)[:, 0])
    else:
        assert torch.equal(seq.positions_3d, seq.positions.expand(3, -1))
    pieces = [c for c in contents if not (name.startswith("whisper") and isinstance(c, str))]
    media = [s for s in seq.spans if s.modality not in (Modality.TEXT, Modality.CONTROL)]
    assert len(media) == sum(not isinstance(c, str) for c in pieces)


@pytest.mark.parametrize("name", list(CASES))
def test_provenance_of_every_token(made, name):
    _, _, seq, _ = made[name]
    table = seq.provenance_table()
    places = torch.tensor(list(seq.vocab.placeholder_ids().values()))
    markers = torch.isin(seq.input_ids, torch.tensor([i for _, i in seq.vocab.markers]))
    markers &= ~torch.isin(seq.input_ids, places)  # placeholders are the tokens with provenance
    for k, (span, seg) in enumerate(zip(seq.spans, seq.unpack())):
        rows = slice(span.start, span.end)
        own = ~markers[rows]
        meta = span.meta
        if span.modality == Modality.TEXT:
            assert isinstance(meta, ModelTextMeta)
            chars = table["chars"][rows]
            assert (chars >= 0).all() and (chars[:, 1] <= len(meta.text)).all()
        elif isinstance(meta, (ModelImageMeta, ModelVideoMeta)):
            ph = seg.input_ids == seq.vocab.placeholder(span.modality)
            boxes = table["box"][rows][ph]
            assert not torch.isnan(boxes).any() and torch.isnan(table["box"][rows][~ph]).all()
            h, w = meta.original_size
            region = (0.0, 0.0, float(w), float(h))
            if meta.crop is not None:  # Chameleon: the centre crop of the resized picture, in original pixels
                top, left, ch, cw = meta.crop
                sy, sx = h / meta.resized_size[0], w / meta.resized_size[1]
                region = (left * sx, top * sy, (left + cw) * sx, (top + ch) * sy)
            per = meta.tokens_per_frame
            for g in range(len(boxes) // per):
                assert_tiles(boxes[g * per:(g + 1) * per], region)
            if isinstance(meta, ModelVideoMeta):
                frame, times = table["frame"][rows][own], table["time"][rows][own]
                assert (frame >= 0).all() and not torch.isnan(times).any()
                assert (times[:, 1] > times[:, 0]).all() and (times[1:, 0] >= times[:-1, 0]).all()
                starts = torch.tensor(meta.frame_indices, dtype=torch.float64)[::meta.temporal_patch_size] / meta.fps
                assert torch.equal(times[:, 0].unique(), starts.unique())
        elif isinstance(meta, ModelAudioMeta):
            t = table["time"][rows][own]
            assert t[0, 0] == 0 and torch.allclose(t[1:, 0], t[:-1, 1])  # contiguous from the start ...
            seconds = meta.kept_samples / meta.sample_rate
            if name.startswith("whisper"):  # 20 ms per encoder position, the windows' padding included
                assert meta.seconds_per_token == 0.02 and float(t[-1, 1]) == pytest.approx(30 * meta.windows)
                assert float(t[-1, 1]) >= seconds
            else:  # Gemma 4: 40 ms per token, up to the last 10 ms hop the model reads
                assert meta.seconds_per_token == 0.04 and seconds - 0.01 <= float(t[-1, 1]) < seconds + 0.04
        p = seq.provenance(span.start + int(own.nonzero()[0, 0])) if own.any() else {}
        assert own.sum() == 0 or {"chars", "box", "time"} & set(p), (k, p)


@pytest.mark.parametrize("name", list(CASES))
def test_save_load_round_trip(made, name, tmp_path):
    seq = made[name][2]
    seq.save(tmp_path)
    back = mmtok.TokenSequence.load(tmp_path)
    assert back.equals(seq) and back.vocab == seq.vocab
    manifest = seq.to_manifest()
    assert manifest["vocab"]["kind"] == "model" and manifest["format"] == "mmtok.sequence/3"
    with pytest.raises(mmtok.errors.ManifestError):
        mmtok.TokenSequence.load(tmp_path, vocab=default_vocab())


def test_qwen_clip_whose_time_runs_past_its_grid(tmp_path):
    """10 s of a 64x48 clip: 10 temporal patches of 2x2 merged tokens. get_rope_index moves on by max(h, w) = 2
    after the clip, not past its temporal positions: the span's extent says so and pack follows it."""
    path = tmp_path / "small.mp4"
    make_clip(path, "mp4", n=250, fps=25, size=(64, 48))
    for name in ("qwen2-vl", "qwen2.5-vl"):
        proc = ModelProcessor(name)
        contents = ["a", mmtok.Video(path), "b c"]
        seq = proc(contents)
        assert torch.equal(seq.positions_3d, proc.position_ids(contents)[:, 0])
        assert seq.spans[1].meta.extent is not None
        assert seq.spans[1].meta.extent < int(seq.positions_3d[:, seq.spans[1].start:seq.spans[1].end].max()) + 1 - \
            seq.spans[1].offset
        _same(hf_inputs_from_sequence(seq), proc.hf_inputs(contents))
        seq.save(tmp_path / name)
        assert mmtok.TokenSequence.load(tmp_path / name).equals(seq)


# --- a Hugging Face tokenizer: the real ids, the prefix it adds, pieces read as one string ------------------------
def _tokenizer(specials: list[str], bos: str | None = None) -> PreTrainedTokenizerFast:
    words = ["[UNK]", "Describe", "this", "picture", "and", "that", ".", ":", "00", "Hi"]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    kwargs = {}
    if bos is not None:
        tk.add_special_tokens([bos])
        tk.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, len(words))])
        kwargs["bos_token"] = bos
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", **kwargs)
    tok.add_special_tokens({"additional_special_tokens": specials})
    return tok


def test_hf_tokenizer_qwen_pieces_read_as_one_string():
    from mmtok.models.qwen import SPECIALS

    tok = _tokenizer(list(SPECIALS))
    proc = ModelProcessor("qwen2-vl", tokenizer=tok)
    contents = ["Describe", " this", mmtok.Image(PHOTOS[1]), "and that."]
    seq, hf = proc(contents), proc.hf_inputs(contents)
    assert torch.equal(seq.input_ids, hf["input_ids"][0])
    _same(hf_inputs_from_sequence(seq), hf)
    assert [s.modality.label for s in seq.spans] == ["text", "text", "image", "text"]
    assert [s.meta.chars for s in seq.spans if s.modality == Modality.TEXT] == [(0, 8), (1, 5), (0, 3, 4, 8, 8, 9)]
    assert seq.vocab.text_model.startswith("tokenizers:") and seq.vocab.marker("<|image_pad|>") == \
        tok.convert_tokens_to_ids("<|image_pad|>")
    assert torch.equal(seq.positions_3d, proc.position_ids(contents)[:, 0])


def test_hf_tokenizer_bos_is_a_control_span():
    from mmtok.models.chameleon import SPECIALS

    tok = _tokenizer([s for s in SPECIALS if s != "<s>"], bos="<s>")
    proc = ModelProcessor("chameleon", tokenizer=tok)
    contents = ["Describe", mmtok.Image(PHOTOS[0])]
    seq, hf = proc(contents), proc.hf_inputs(contents)
    assert torch.equal(seq.input_ids, hf["input_ids"][0])
    assert [(s.modality.label, s.length, getattr(s.meta, "role", None)) for s in seq.spans] == [
        ("control", 1, "prefix"), ("text", 1, None), ("image", 1026, None), ("control", 1, "suffix")]
    _same(hf_inputs_from_sequence(seq), hf)


def test_hf_tokenizer_gemma_clip_timestamp_after_text():
    """The first frame's "00:00 " follows the text piece without a marker between: one string for the tokenizer,
    each token given to the piece its first character is in."""
    from mmtok.models.gemma4 import SPECIALS

    tok = _tokenizer(list(SPECIALS), bos="<bos>")
    proc = ModelProcessor("gemma-4", tokenizer=tok)
    contents = ["Hi", mmtok.Video(CLIP)]
    seq, hf = proc(contents), proc.hf_inputs(contents)
    assert torch.equal(seq.input_ids, hf["input_ids"][0])
    assert [s.modality.label for s in seq.spans] == ["control", "text", "video"]
    assert seq.spans[1].length == 1 and seq.spans[1].meta.chars == (0, 2)
    _same(hf_inputs_from_sequence(seq), hf)


# --- refusals and the vocabulary ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gemini-api", "gemini-1.0-mmtok-reading"])
def test_counts_only_rules_refuse(name):
    with pytest.raises(InputError, match="count rule|published"):
        ModelProcessor(name)(["hello", mmtok.Image(PHOTOS[0])])


def test_model_vocab_checks_and_describes():
    v = ModelVocab("m", 10, (("<a>", 8), ("<b>", 9)), (("image", "<a>"),), "x", 0)
    assert v.placeholder(Modality.IMAGE) == 8 and v.name(9) == "<b>" and v.name(3) == "text:3"
    assert vocab_from_description(v.describe()) == v
    assert vocab_from_description(default_vocab().describe()) == default_vocab()
    assert "kind" not in default_vocab().describe()  # mmtok's own manifests are unchanged
    with pytest.raises(VocabError):
        v.placeholder(Modality.AUDIO)
    with pytest.raises(VocabError):
        v.check(torch.tensor([10]))
    with pytest.raises(ConfigError):
        ModelVocab("m", 10, (("<a>", 10),), ())
    with pytest.raises(ConfigError):
        ModelVocab("m", 10, (("<a>", 8),), (("image", "<a>"), ("video", "<a>")))
    with pytest.raises(VocabError):
        vocab_from_description(v.describe() | {"extra": 1})


def test_edges_text_alone_empty_pieces_long_and_tiny_sounds():
    import numpy as np

    wave = (np.random.default_rng(0).standard_normal(16000 * 35) * 0.1).astype(np.float32)
    cases = [("whisper", ["only text"]), ("qwen2-vl", "just text"), ("chameleon", ["a", "", "b"]),
             ("gemma-4", [mmtok.Audio(wave, sample_rate=16000), mmtok.Audio(wave[:100], sample_rate=16000)]),
             ("whisper", [mmtok.Audio(wave, sample_rate=16000), "x"])]
    for name, contents in cases:
        proc = ModelProcessor(name)
        seq = proc(contents)
        _same(hf_inputs_from_sequence(seq), proc.hf_inputs(contents))
        seq.provenance_table()
    chameleon = ModelProcessor("chameleon")(["a", "", "b"])
    assert [s.modality.label for s in chameleon.spans] == ["control", "text", "text", "control"]  # "" has no span
    long, tiny = ModelProcessor("gemma-4")(cases[3][1]).spans
    assert long.meta.truncated and long.meta.kept_samples == 480000 and long.num_features == 750
    assert long.meta.padded_frames == 1 and tiny.num_features == 0 and tiny.length == 2
    whisper = ModelProcessor("whisper")(cases[4][1])
    assert whisper.spans[0].meta.windows == 2 and whisper.spans[0].num_features == 3000


def test_char_spans_of_a_sentencepiece_file():
    """Gemma's tokenizer.model path: character spans from SentencePiece's byte offsets (mmtok's model stands in)."""
    from types import SimpleNamespace

    from mmtok.models.base import _SentencePieceFile
    from mmtok.models.sequence import _offsets
    from mmtok.text import TextTokenizer

    sp = TextTokenizer.default()._sp
    text = SimpleNamespace(enc=_SentencePieceFile(sp))
    s = "héllo  wörld"
    spans = _offsets(text, s, sp.encode(s))
    assert spans is not None and spans[0][0] == 0 and spans[-1][1] == len(s)
    assert all(a <= b for a, b in spans) and all(b == a2 for (_, b), (a2, _) in zip(spans, spans[1:]))
    assert _offsets(text, s, [1, 2]) is None  # other ids: unknown


def test_hf_tokenizer_whisper_prefix_and_suffix_are_control_spans():
    from mmtok.models.whisper import SPECIALS

    tok = _tokenizer(list(SPECIALS))
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftranscript|> <|notimestamps|> $A <|endoftext|>",
        special_tokens=[(s, tok.convert_tokens_to_ids(s)) for s in SPECIALS])
    proc = ModelProcessor("whisper", tokenizer=tok)
    contents = [mmtok.Audio(SPEECH), "Describe", " this"]
    seq, hf = proc(contents), proc.hf_inputs(contents)
    audio = seq.input_ids == seq.vocab.placeholder(Modality.AUDIO)
    assert torch.equal(seq.input_ids[~audio], hf["labels"][0])
    assert seq.vocab.size == len(tok) + 1 and seq.vocab.placeholder(Modality.AUDIO) == len(tok)
    assert [(s.modality.label, s.length) for s in seq.spans] == [("audio", 1500), ("control", 2), ("text", 2),
                                                                  ("control", 1)]
    assert seq.spans[2].meta.chars == (0, 8, 9, 13)
    _same(hf_inputs_from_sequence(seq), hf)


def test_packed_rows_restart_each_prompts_positions():
    """pack_rows of two Qwen prompts: each document's 3D positions are its own get_rope_index (restarting at 0);
    get_rope_index over the row as one sequence (the two prompts run together) would continue them instead."""
    proc = ModelProcessor("qwen2-vl")
    a = ["Describe ", mmtok.Image(ASSETS / "images/chelsea.png")]
    b = ["and ", mmtok.Image(ASSETS / "images/coffee.png"), " too"]
    rows = mmtok.pack_rows([proc(a), proc(b)], 1024)
    (ra, sa, la), (rb, sb, lb) = rows["documents"].tolist()
    assert (ra, sa) == (0, 0) and (rb, sb) == (0, la)  # both in one row, b right after a
    assert torch.equal(rows["positions_3d"][ra, :, sa:sa + la], proc.position_ids(a)[:, 0])
    assert torch.equal(rows["positions_3d"][rb, :, sb:sb + lb], proc.position_ids(b)[:, 0])
    joined = proc.position_ids(a + b)[:, 0]  # what the model class computes for the whole row
    assert torch.equal(joined[:, :la], proc.position_ids(a)[:, 0])
    assert int(joined[:, la].min()) > 0 and int(rows["positions_3d"][rb, :, sb].max()) == 0
