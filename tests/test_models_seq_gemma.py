"""ModelProcessor("gemma-3" / "gemma-3n")(contents) -> TokenSequence: the processor's ids, one span per piece, the
features regrouped and back exactly, a box in original pixels for every picture token (each view tiling its region
once), a time for every real audio token (none for padding), the 30 s cut in the metadata, the save/load round
trip; the grouping checked against the transformers modules that consume it (the Gemma 3 projector's pooling, the
Gemma 3n audio encoder's mask) and the ids against the transformers processors with a local tokenizer."""

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

import mmtok
import published
from mmtok.core.model_vocab import ModelVocab
from mmtok.core.vocab import Modality
from mmtok.media.audioio import stream_audio
from mmtok.media.imageio import load_image
from mmtok.models import ModelProcessor
from mmtok.models.gemma import pan_and_scan_crops
from mmtok.models.seq_gemma import Gemma3nAudioMeta, GemmaImageMeta, gemma3_rows
from mmtok.models.seqmeta import ModelTextMeta
from mmtok.models.sequence import hf_inputs_from_sequence
from tiles import assert_tiles

ASSETS = Path(__file__).resolve().parent.parent / "assets"
PHOTOS = sorted((ASSETS / "images").glob("*.png")) + sorted((ASSETS / "images").glob("*.jpg"))
SPEECH, GUITAR = ASSETS / "audio" / "speech_en.wav", ASSETS / "audio" / "guit_em9.flac"
RATE = 16_000
WAVE35 = (np.random.default_rng(0).standard_normal(RATE * 35) * 0.1).astype(np.float32)


def _cases():
    img = [mmtok.Image(p) for p in PHOTOS]
    return {
        "gemma-3": ({}, ["Describe ", img[0], " and ", img[1], img[2], "then", img[3], img[4], "."]),
        "gemma-3 pan-and-scan": ({"pan_and_scan": True}, [img[3], "x", img[4], img[0]]),
        "gemma-3n": ({}, ["Hi ", *img, " hear ", mmtok.Audio(SPEECH), mmtok.Audio(GUITAR),
                          mmtok.Audio(WAVE35, sample_rate=RATE), "end"]),
    }


CASES = _cases()


@pytest.fixture(scope="module")
def made():
    """case -> (processor, contents, sequence, hf_inputs), each made once."""
    out = {}
    for case, (options, contents) in CASES.items():
        proc = ModelProcessor(case.split()[0], **options)
        out[case] = (proc, contents, proc(contents), proc.hf_inputs(contents))
    return out


def _same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("case", list(CASES))
def test_ids_spans_and_features_are_the_processors(made, case):
    proc, contents, seq, hf = made[case]
    assert isinstance(seq.vocab, ModelVocab) and seq.vocab.model == proc.name
    assert torch.equal(seq.input_ids, hf["input_ids"][0])
    _same(hf_inputs_from_sequence(seq), hf)  # the regrouped rows give the processor's tensors back, exactly
    assert torch.equal(seq.positions, torch.arange(len(seq)))
    assert torch.equal(seq.positions_3d, seq.positions.expand(3, -1))
    assert [s.modality for s in seq.spans] == [Modality.TEXT if isinstance(c, str) else
                                               Modality.AUDIO if isinstance(c, mmtok.Audio) else Modality.IMAGE
                                               for c in contents]  # mmtok's ids: no BOS, one span per piece
    images = [s for s in seq.spans if s.modality == Modality.IMAGE]
    assert seq.features["image"].shape == (sum(s.meta.views for s in images) * 256,
                                           9408 if proc.name == "gemma-3" else 6912)
    newlines = proc._impl.text.sp.encode("\n\n")
    for span in images:  # the processor's "\n\n" around each picture sits in the picture's span
        ids = seq.input_ids[span.start:span.end].tolist()
        assert ids[-len(newlines) - 1:] == [seq.vocab.marker("<end_of_image>")] + newlines
        if span.meta.views == 1:  # with crops the span starts with the processor's "Here is the original image "
            assert ids[:len(newlines) + 1] == newlines + [seq.vocab.marker("<start_of_image>")]


@pytest.mark.parametrize("case", list(CASES))
def test_provenance_of_every_token(made, case):
    proc, _, seq, hf = made[case]
    table = seq.provenance_table()
    n_crops, n_audio = 0, 0
    for span, seg in zip(seq.spans, seq.unpack()):
        rows, meta = slice(span.start, span.end), span.meta
        if isinstance(meta, ModelTextMeta):
            chars = table["chars"][rows]
            assert (chars >= 0).all() and (chars[:, 1] <= len(meta.text)).all()
            continue
        ph = seg.input_ids == seq.vocab.placeholder(span.modality)
        others = ~ph  # markers and the processor's text: no provenance of their own
        assert torch.isnan(table["box"][rows][others]).all() and torch.isnan(table["time"][rows][others]).all()
        if isinstance(meta, GemmaImageMeta):
            boxes = table["box"][rows][ph]
            h, w = meta.original_size
            regions = torch.tensor(meta.regions).reshape(-1, 4).tolist()
            assert regions[0] == [0, 0, h, w]
            crops = pan_and_scan_crops(proc._impl.cfg, h, w) if proc.name == "gemma-3" else []
            assert regions[1:] == [list(c) for c in crops]
            n_crops += len(crops)
            cells = torch.zeros(h, w, dtype=torch.int64)
            for t, lf, b, r in crops:  # the crops cut the picture into pieces covering it once
                cells[t:b, lf:r] += 1
            assert not crops or bool((cells == 1).all())
            assert len(boxes) == 256 * len(regions)
            for v, (top, left, bottom, right) in enumerate(regions):
                assert_tiles(boxes[v * 256:(v + 1) * 256], (left, top, right, bottom), 16)
        else:
            assert isinstance(meta, Gemma3nAudioMeta)
            n_audio += 1
            t = table["time"][rows][ph]
            real = t[:meta.real_tokens]
            assert len(t) == meta.tokens == 188 and meta.real_tokens == -(-meta.real_frames // 16)
            assert real[0, 0] == 0 and torch.allclose(real[1:, 0], real[:-1, 1])  # contiguous from 0
            assert torch.allclose(real[:, 1] - real[:, 0], torch.full((len(real),), 0.16, dtype=torch.float64))
            assert meta.real_frames * 0.01 <= float(real[-1, 1]) < meta.real_frames * 0.01 + 0.16
            assert torch.isnan(t[meta.real_tokens:]).all()  # padding tokens: no time
            assert not seg.features[meta.real_tokens:].any()  # ... and all-zero rows
            assert meta.padded_frames == 16 * meta.real_tokens - meta.real_frames
    if case == "gemma-3 pan-and-scan":
        assert n_crops == 4  # rocket.jpg and the 5312x2988 JPEG: 2 crops each
    if case == "gemma-3n":
        assert n_audio == 3


@pytest.mark.parametrize("case", list(CASES))
def test_save_load_round_trip(made, case, tmp_path):
    seq = made[case][2]
    seq.save(tmp_path)
    back = mmtok.TokenSequence.load(tmp_path)
    assert back.equals(seq) and back.vocab == seq.vocab
    assert [type(s.meta) for s in back.spans] == [type(s.meta) for s in seq.spans]
    _same(hf_inputs_from_sequence(back), made[case][3])


def test_audio_metadata_the_30s_cut_and_padding(made):
    """The 35 s waveform is cut at 30 s (5 s dropped, said in its metadata), its 2997 frames fill the 188 tokens;
    the shorter sounds read ceil(frames / 16) tokens, the rest padding."""
    _, _, seq, hf = made["gemma-3n"]
    speech, guitar, long = [s.meta for s in seq.spans if s.modality == Modality.AUDIO]
    assert long.truncated and long.samples == 35 * RATE and long.kept_samples == 30 * RATE
    assert long.dropped_seconds == 5.0 and long.real_frames == 2997 and long.real_tokens == 188
    assert long.padding_tokens == 0 and long.padded_frames == 11 and long.feature_frames == 2997
    for meta in (speech, guitar):
        assert not meta.truncated and meta.dropped_seconds == 0 and 0 < meta.real_tokens < 188
        assert meta.padding_tokens == 188 - meta.real_tokens and meta.seconds_per_token == 0.16
        assert meta.frames_per_token == 16 and meta.n_mels == 128
    assert int(hf["input_features_mask"][0].sum()) == speech.real_frames


def test_tiny_clips():
    """A 100-sample clip next to a longer one has one real frame (the mask is True on frames that start inside the
    clip): one real token, 187 padding; alone it has no frame at all (the batch is 128 samples, under one 513-sample
    window): all 188 tokens padding, without time."""
    proc = ModelProcessor("gemma-3n")
    tiny_clip = mmtok.Audio(WAVE35[:100], sample_rate=RATE)
    contents = [tiny_clip, mmtok.Audio(WAVE35[:RATE], sample_rate=RATE)]
    seq = proc(contents)
    _same(hf_inputs_from_sequence(seq), proc.hf_inputs(contents))
    tiny, second = seq.spans
    assert tiny.meta.real_frames == 1 and tiny.meta.real_tokens == 1 and tiny.meta.padding_tokens == 187
    assert second.meta.real_frames == 97 and second.meta.real_tokens == 7  # (16000 - 513) // 160 + 1 frames
    alone = proc([tiny_clip])
    _same(hf_inputs_from_sequence(alone), proc.hf_inputs([tiny_clip]))
    meta = alone.spans[0].meta
    assert meta.feature_frames == meta.real_frames == meta.real_tokens == 0 and meta.padding_tokens == 188
    assert torch.isnan(alone.provenance_table()["time"]).all() and not alone.features["audio"].any()


def test_gemma3_rows_are_the_projectors_pooling():
    """Gemma3MultiModalProjector (built with gemma-3-4b-it's vision sizes: 896 px, 14 px patches, 256 tokens)
    pools exactly the 16 patches of each row: one-hot patch features through its AvgPool2d."""
    from transformers import Gemma3Config
    from transformers.models.gemma3.modeling_gemma3 import Gemma3MultiModalProjector

    cfg = Gemma3Config(vision_config={"model_type": "siglip_vision_model", "image_size": 896, "patch_size": 14,
                                      "hidden_size": 4096}, text_config={"hidden_size": 8}, mm_tokens_per_image=256)
    proj = Gemma3MultiModalProjector(cfg)
    pooled = []
    proj.avg_pool.register_forward_hook(lambda m, i, o: pooled.append(o))
    proj(torch.eye(4096)[None])
    which = pooled[0][0].flatten(1).T > 0  # [256 tokens, 4096 patches]: the patches each token averages
    # each 14x14 patch of a picture filled with its row-major patch number (SigLIP's patch order)
    number = torch.arange(4096, dtype=torch.float32).reshape(64, 64)
    pv = number.repeat_interleave(14, 0).repeat_interleave(14, 1).expand(1, 3, 896, 896)
    rows = gemma3_rows(pv).reshape(256, 16, 3 * 14 * 14)  # (dy dx) patches per token
    assert (rows == rows[..., :1]).all()  # each chunk is one whole patch
    ours = torch.zeros(256, 4096, dtype=torch.bool)
    ours[torch.arange(256)[:, None], rows[..., 0].long()] = True
    assert torch.equal(ours, which)


def test_gemma3n_grid_and_audio_stride_are_the_models(made):
    """The installed sources: MobileNet-v5's fusion output is 16 x 16 (timm), and the audio encoder (a small
    Gemma3nAudioEncoder with the published strides and reduction factor) gives ceil(T / 16) outputs whose mask is
    real exactly on the first ceil(real_frames / 16), on the prompt's own features."""
    import timm.models.mobilenetv5 as mnv5
    from transformers.models.gemma3n.configuration_gemma3n import Gemma3nAudioConfig, Gemma3nVisionConfig
    from transformers.models.gemma3n.modeling_gemma3n import Gemma3nAudioEncoder

    assert Gemma3nVisionConfig().architecture == "mobilenetv5_300m_enc"
    assert inspect.signature(mnv5.MobileNetV5Encoder).parameters["msfa_output_resolution"].default == 16
    torch.manual_seed(0)
    cfg = Gemma3nAudioConfig(hidden_size=8, conf_num_attention_heads=1, conf_num_hidden_layers=1,
                             sscp_conv_channel_size=(2, 2))
    assert cfg.sscp_conv_stride_size == ((2, 2), (2, 2)) and cfg.conf_reduction_factor == 4
    encoder = Gemma3nAudioEncoder(cfg).eval()
    _, _, seq, hf = made["gemma-3n"]
    metas = [s.meta for s in seq.spans if s.modality == Modality.AUDIO]
    for k, meta in enumerate(metas):
        with torch.no_grad():
            out = encoder(hf["input_features"][k:k + 1], ~hf["input_features_mask"][k:k + 1])
        padding = out.audio_mel_mask[0]
        assert len(padding) == -(-hf["input_features"].shape[1] // 16) <= 188
        assert not padding[:meta.real_tokens].any() and padding[meta.real_tokens:].all()


# --- the transformers processors (tests/published.py) with a local tokenizer: the real ids, BOS a CONTROL span ---


@pytest.fixture(scope="module")
def tok():
    """A word-level tokenizer keeping "\\n\\n" and spaces as tokens, Gemma's markers as special tokens, and a BOS
    its post-processor adds, as Gemma's tokenizer does (built here, nothing downloaded)."""
    words = ["[UNK]", "\n\n", " ", "Describe", "this", "and", "that", ".", "Here", "is", "the", "original",
             "image", "here", "are", "some", "crops", "to", "help", "you", "see", "better", "Listen", "<bos>"]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"\n\n|\n| |\w+|[^\w\s]"), behavior="isolated")
    tk.add_special_tokens(["<bos>"])
    tk.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", len(words) - 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", bos_token="<bos>",
                                   extra_special_tokens=published.GEMMA_MARKERS)


def _decoded(photo) -> np.ndarray:
    return load_image(photo).pixels.permute(1, 2, 0).numpy()


def _wave(path) -> np.ndarray:
    return np.concatenate(list(stream_audio(path, target_rate=RATE, sample_rate=None, max_duration=1e9,
                                            chunk_seconds=30)))


@pytest.mark.parametrize("pan_and_scan", [False, True])
def test_gemma3_ids_equal_the_processor_with_a_tokenizer(tok, pan_and_scan):
    ref = published.gemma3_processor(tok)
    a, b = PHOTOS[1], PHOTOS[3]  # chelsea.png, rocket.jpg (2 crops with pan-and-scan)
    want = ref(text=["Describe this <start_of_image> and that <start_of_image>."], images=[_decoded(a), _decoded(b)],
               return_tensors="pt", do_pan_and_scan=pan_and_scan, **published.GEMMA3_PAN_AND_SCAN)
    proc = ModelProcessor("gemma-3", tokenizer=tok, pan_and_scan=pan_and_scan)
    contents = ["Describe this ", mmtok.Image(a), " and that ", mmtok.Image(b), "."]
    seq = proc(contents)
    assert torch.equal(seq.input_ids, want["input_ids"][0])
    _same(hf_inputs_from_sequence(seq), proc.hf_inputs(contents))
    assert torch.equal(hf_inputs_from_sequence(seq)["pixel_values"], want["pixel_values"])
    # a picture: "\n\n" <start_of_image> 256 x <image_soft_token> <end_of_image> "\n\n"; rocket.jpg cut in 2
    # crops adds 2 such and the sentences (10 + 21 tokens here) and the " " between the crops' sequences
    assert [(s.modality.label, s.length, getattr(s.meta, "role", None)) for s in seq.spans] == [
        ("control", 1, "prefix"), ("text", 4, None), ("image", 260, None), ("text", 5, None),
        ("image", 3 * 260 + 10 + 21 + 1 if pan_and_scan else 260, None), ("text", 1, None)]
    assert seq.spans[0].meta.role == "prefix" and seq.input_ids[0] == tok.bos_token_id
    assert seq.spans[1].meta.chars == (0, 8, 8, 9, 9, 13, 13, 14)


def test_gemma3n_ids_equal_the_processor_with_a_tokenizer(tok):
    ref = published.gemma3n_processor(tok)
    want = ref(text=["Describe this <image_soft_token> Listen <audio_soft_token><audio_soft_token>"],
               images=[_decoded(PHOTOS[4])], audio=[_wave(SPEECH), WAVE35], return_tensors="pt")
    proc = ModelProcessor("gemma-3n", tokenizer=tok)
    contents = ["Describe this ", mmtok.Image(PHOTOS[4]), " Listen ", mmtok.Audio(SPEECH),
                mmtok.Audio(WAVE35, sample_rate=RATE)]
    seq = proc(contents)
    assert torch.equal(seq.input_ids, want["input_ids"][0])
    _same(hf_inputs_from_sequence(seq), dict(want))
    assert [(s.modality.label, s.length) for s in seq.spans] == [("control", 1), ("text", 4), ("image", 260),
                                                                  ("text", 3), ("audio", 192), ("audio", 192)]
    assert seq.spans[-1].meta.truncated and seq.spans[-1].meta.dropped_seconds == 5.0


def test_newlines_merged_with_neighbours_keep_the_ids():
    """A tokenizer whose whitespace runs are single tokens (as Gemma's SentencePiece has " \\n\\n", "\\n\\n\\n\\n"):
    the "\\n\\n" the processor writes merges with the text before, between two pictures and after. Each token goes
    to the piece its first character is in, and the ids are Gemma3Processor's."""
    words = ["[UNK]", "Describe", "this", "and", "that", " ", "\n\n", " \n\n", "\n\n ", "\n\n\n\n", "<bos>"]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"\s+|\w+|[^\w\s]"), behavior="isolated")
    tk.add_special_tokens(["<bos>"])
    tk.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", len(words) - 1)])
    runs = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", bos_token="<bos>",
                                   extra_special_tokens=published.GEMMA_MARKERS)
    ref = published.gemma3_processor(runs)
    a, b = PHOTOS[0], PHOTOS[2]
    want = ref(text=["Describe this <start_of_image><start_of_image> and that"], images=[_decoded(a), _decoded(b)],
               return_tensors="pt")
    proc = ModelProcessor("gemma-3", tokenizer=runs)
    contents = ["Describe this ", mmtok.Image(a), mmtok.Image(b), " and that"]
    seq = proc(contents)
    assert torch.equal(seq.input_ids, want["input_ids"][0]) and "[UNK]" not in runs.decode(seq.input_ids)
    _same(hf_inputs_from_sequence(seq), proc.hf_inputs(contents))
    assert [(s.modality.label, s.length) for s in seq.spans] == [("control", 1), ("text", 4), ("image", 259),
                                                                  ("image", 259), ("text", 3)]
    name = runs.convert_ids_to_tokens
    assert name(int(seq.input_ids[seq.spans[1].end - 1])) == " \n\n"  # crosses into the picture: the text's
    assert name(int(seq.input_ids[seq.spans[2].end - 1])) == "\n\n\n\n"  # the two pictures' "\n\n": the first's
    assert name(int(seq.input_ids[seq.spans[3].end - 1])) == "\n\n "  # crosses into the text: the picture's
    assert seq.spans[4].meta.chars == (1, 4, 4, 5, 5, 9)
