"""The tiny Gemma-style decoder: shapes, causality, multi-query attention, KV cache, loss mask, constrained
decoding, and a short overfit that writes a real image's VQ codes back exactly."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import mmtok
from mmtok import DecoderConfig, Modality, Segment, TinyDecoder, Vocab, grid_positions, pack, sequential_positions
from mmtok.decoder.model import Attention, rope_angles

VOCAB = Vocab(text_size=200, image_codes=1024)
PATCH = 12  # feature width of the toy image segments


def toy_sequence(seed: int = 0, n_text: int = 7, grid: tuple[int, int] = (3, 4)) -> mmtok.TokenSequence:
    """<bos>, text, an image (placeholders + random features), text, a block of image codes, <eos>."""
    g = torch.Generator().manual_seed(seed)
    h, w = grid

    def text(n):
        return Segment(Modality.TEXT, torch.randint(0, VOCAB.text_size, (n,), generator=g), sequential_positions(n))

    ph = VOCAB.placeholder(Modality.IMAGE)
    img_ids = torch.cat([torch.tensor([VOCAB.special("<start_of_image>")]), torch.full((h * w,), ph),
                         torch.tensor([VOCAB.special("<end_of_image>")])])
    img_pos = torch.cat([torch.zeros(3, 1, dtype=torch.int64), grid_positions(1, h, w) + torch.tensor([[0], [1], [1]]),
                         torch.tensor([[0], [h + 1], [w + 1]])], 1)
    image = Segment(Modality.IMAGE, img_ids, img_pos, torch.randn(h * w, PATCH, generator=g))
    codes = mmtok.vq.tokenizer.codes_segment(torch.randint(0, 1024, (2, 2), generator=g), VOCAB,
                                   mmtok.VQConfig(image_size=16, codebook_size=1024))
    ctrl = [Segment(Modality.CONTROL, torch.tensor([i]), sequential_positions(1)) for i in (VOCAB.bos_id, VOCAB.eos_id)]
    return pack([ctrl[0], text(n_text), image, text(3), codes, ctrl[1]], VOCAB)


AUDIO = 10  # feature width of the toy audio segment


def toy_sequence_with_audio(seed: int = 0) -> mmtok.TokenSequence:
    """:func:`toy_sequence` with an audio clip (5 placeholders + random mel rows) after the image's text."""
    g = torch.Generator().manual_seed(seed + 100)
    n = 5
    ids = torch.cat([torch.tensor([VOCAB.special("<start_of_audio>")]), torch.full((n,), VOCAB.placeholder(Modality.AUDIO)),
                     torch.tensor([VOCAB.special("<end_of_audio>")])])
    audio = Segment(Modality.AUDIO, ids, sequential_positions(n + 2), torch.randn(n, AUDIO, generator=g))
    parts = toy_sequence(seed).unpack()  # <bos>, text, image, text, codes, <eos>
    return pack(parts[:4] + [audio] + parts[4:], VOCAB)


def toy_config(**kw) -> DecoderConfig:
    base = dict(vocab=VOCAB, width=32, layers=2, heads=4, kv_heads=1, mlp_hidden=48, feature_dims=(("image", PATCH),))
    return DecoderConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def model() -> TinyDecoder:
    torch.manual_seed(0)
    return TinyDecoder(toy_config()).eval()


def test_shapes(model):
    seq = toy_sequence()
    out = model(seq)
    assert out.logits.shape == (1, len(seq), VOCAB.size) and out.logits.dtype == torch.float32
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    batch = mmtok.collate([toy_sequence(1), toy_sequence(2, n_text=11)])
    assert model(batch).logits.shape == (2, batch["input_ids"].shape[1], VOCAB.size)


@pytest.mark.parametrize("rope", ["1d", "3d"])
def test_causal(rope):
    torch.manual_seed(0)
    m = TinyDecoder(toy_config(rope=rope)).eval()
    seq = toy_sequence()
    changed = seq.input_ids.clone()
    k = len(seq) - 3
    changed[k] = (changed[k] + 1) % VOCAB.text_size  # a later text/code token changes
    other = mmtok.TokenSequence(changed, seq.modality, seq.positions, seq.positions_3d, seq.spans, seq.features,
                                seq.vocab, seq.max_length, seq.truncation)
    a, b = m(seq).logits[0], m(other).logits[0]
    torch.testing.assert_close(a[:k], b[:k], rtol=0, atol=1e-6)
    assert not torch.allclose(a[k:], b[k:])


@pytest.mark.parametrize("rope", ["1d", "3d"])
@pytest.mark.parametrize("label", ["image", "audio"])
def test_feature_rows_reach_the_logits_causally(label, rope):
    """Changing one continuous input row (an image patch or an audio token) changes the logits at its placeholder
    and at every later position, and never at an earlier one."""
    torch.manual_seed(0)
    m = TinyDecoder(toy_config(rope=rope, feature_dims=(("image", PATCH), ("audio", AUDIO)))).eval()
    batch = mmtok.collate([toy_sequence_with_audio()])
    where = (batch["input_ids"][0] == VOCAB.placeholder(Modality.parse(label))).nonzero()[:, 0]
    j = 2  # the third row of that modality sits at the third placeholder
    rows = batch["features"][label].clone()
    rows[j] += torch.randn(rows.shape[1])
    changed = {**batch, "features": {**batch["features"], label: rows}}
    with torch.no_grad():
        a, b = m(batch).logits[0], m(changed).logits[0]
    p = int(where[j])
    torch.testing.assert_close(a[:p], b[:p], rtol=0, atol=1e-6)
    assert ((a[p:] - b[p:]).abs().amax(-1) > 1e-4).all()  # at the placeholder and after it


def test_runs_on_the_hugging_face_style_batch():
    """The tokenizer's text= call gives a Batch the decoder reads: each row's logits are those of its sequence
    alone (padding changes nothing before it), and the loss is transformers' causal-LM loss over ``labels``
    (shifted by one, -100 ignored)."""
    torch.manual_seed(0)
    mt = mmtok.MultimodalTokenizer("gemini-like")
    texts = ["Describe <image> briefly.", "Listen: <audio>"]
    hf = mt(text=texts, images=["assets/images/chelsea.png"], audio=["assets/audio/speech_en.wav"],
            return_tensors="pt")
    dims = tuple((label, f.shape[1]) for label, f in hf["features"].items())
    m = TinyDecoder(DecoderConfig(vocab=mt.vocab, width=32, layers=1, heads=2, mlp_hidden=32, text_embed_dim=8,
                                  feature_dims=dims)).eval()
    with torch.no_grad():
        out = m(hf)
        for row, seq in enumerate(mmtok.uncollate(hf)):
            torch.testing.assert_close(out.logits[row, :len(seq)], m(seq).logits[0], rtol=1e-4, atol=1e-5)
    labels = hf["labels"][:, 1:]
    want = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, mt.vocab.size), labels.reshape(-1),
                                             ignore_index=-100)
    assert out.num_targets == int((labels != -100).sum()) > 0
    torch.testing.assert_close(out.loss, want)
    # labels of one's own (here: nothing to learn in the first 5 tokens of each row) are the ones counted
    mine = hf["labels"].clone()
    mine[:, :5] = -100
    with torch.no_grad():
        own = m(mmtok.Batch({**hf, "labels": mine}))
    assert own.num_targets == int((mine[:, 1:] != -100).sum()) < out.num_targets
    want = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, mt.vocab.size),
                                             mine[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(own.loss, want)


@pytest.mark.parametrize("key", ["vocab", "labels", "documents", "features"])
def test_a_mapping_without_a_key_is_a_typed_error(model, key):
    batch = mmtok.collate([toy_sequence()])
    with pytest.raises(mmtok.SequenceError, match=f"the batch has no '{key}'"):
        model({k: v for k, v in batch.items() if k != key})
    with pytest.raises(mmtok.SequenceError, match="TinyDecoder reads a TokenSequence or an mmtok.Batch"):
        model([toy_sequence()])


def test_round_trip_decoder_has_at_most_2m_parameters():
    """The round trip's model (issue 8: <= 2M parameters), with every feature projection a prompt can need."""
    from mmtok.roundtrip import decoder_config

    mt = mmtok.MultimodalTokenizer("gemini-like")
    seq = mt.encode(["Redraw:", mmtok.Image("assets/images/chelsea.png"), mmtok.Audio("assets/audio/speech_en.wav")])
    m = TinyDecoder(decoder_config(mt.vocab, seq))
    assert set(m.feature_proj) == {"image", "audio"}
    assert m.num_parameters() <= 2_000_000


def test_multi_query_equals_repeated_heads():
    torch.manual_seed(0)
    mqa_cfg = toy_config(heads=4, kv_heads=1)
    mha_cfg = replace(mqa_cfg, kv_heads=4)
    mqa, mha = Attention(mqa_cfg), Attention(mha_cfg)
    d = mqa_cfg.head_dim
    with torch.no_grad():
        mha.q.weight.copy_(mqa.q.weight)
        mha.o.weight.copy_(mqa.o.weight)
        k, v = mqa.kv.weight.split(d)  # one key head, one value head
        mha.kv.weight.copy_(torch.cat([k.repeat(4, 1), v.repeat(4, 1)]))
    x = torch.randn(2, 9, mqa_cfg.width)
    pos = torch.arange(9).expand(2, 3, 9)
    angles = rope_angles(mqa_cfg, pos)
    torch.testing.assert_close(mqa(x, angles, None, None)[0], mha(x, angles, None, None)[0], rtol=1e-5, atol=1e-6)


def test_rope_3d_equals_1d_on_text():
    cfg3 = toy_config(rope="3d")
    pos = torch.arange(20)[None]
    torch.testing.assert_close(rope_angles(cfg3, pos[:, None].expand(1, 3, 20)),
                               rope_angles(replace(cfg3, rope="1d"), pos))


SMALL_VQ = mmtok.VQConfig(image_size=24, downsample=8, codebook_size=1024)  # 3 x 3 codes per block


def check_against_full_recomputation(m: TinyDecoder, prompt, out, vq_grid: int, code_range: int,
                                     start_image: bool = False) -> int:
    """Every generated token is the argmax (over what the constraints allow there) of a full forward pass over
    the packed result: the KV cache and the positions used while generating equal pack's. Returns blocks seen."""
    vocab = m.config.vocab
    full = m(out).logits[0]
    free = torch.zeros(vocab.size, dtype=torch.bool)
    free[:vocab.text_size] = True
    free[[vocab.eos_id, vocab.special("<start_of_image_codes>")]] = True
    codes = torch.zeros(vocab.size, dtype=torch.bool)
    codes[vocab.code_offset:vocab.code_offset + code_range] = True
    inside = torch.zeros(len(out), dtype=torch.int64)  # 1 = a code slot, 2 = the forced end marker
    blocks = 0
    for s in out.spans[len(prompt.spans):]:
        if s.modality == Modality.IMAGE_CODES:
            blocks += 1
            assert s.length == vq_grid * vq_grid + 2
            inside[s.start + 1:s.start + s.length - 1] = 1
            inside[s.start + s.length - 1] = 2
    for i in range(len(prompt) - 1 + start_image, len(out) - 1):  # a forced start is not sampled
        if inside[i + 1] == 2:
            continue
        allowed = codes if inside[i + 1] == 1 else free
        assert int(out.input_ids[i + 1]) == int(full[i].masked_fill(~allowed, float("-inf")).argmax()), i
    return blocks


@pytest.mark.parametrize("rope", ["1d", "3d"])
def test_kv_cache_generation_equals_full_recomputation(rope):
    torch.manual_seed(1)
    m = TinyDecoder(toy_config(rope=rope)).eval()
    prompt = pack(toy_sequence(3).unpack()[:-2], VOCAB)  # stop before the codes block: the decoder writes on
    out = m.generate(prompt, max_new_tokens=12, vq=SMALL_VQ, stop_at_eos=False)
    assert len(out) == len(prompt) + 12
    assert out.unpack()[:len(prompt.spans)] == prompt.unpack()  # the prompt is kept as it was
    check_against_full_recomputation(m, prompt, out, 3, 1024)
    # and through an image-codes block (3D positions on the block's grid, then text after it)
    out = m.generate(prompt, max_new_tokens=20, vq=SMALL_VQ, stop_at_eos=False, start_image=True)
    assert check_against_full_recomputation(m, prompt, out, 3, 1024, start_image=True) >= 1
    # sampling is reproducible with a seed
    a = m.generate(prompt, max_new_tokens=15, temperature=1.5, top_k=20, seed=7, vq=SMALL_VQ, stop_at_eos=False)
    b = m.generate(prompt, max_new_tokens=15, temperature=1.5, top_k=20, seed=7, vq=SMALL_VQ, stop_at_eos=False)
    assert a.equals(b)


def test_constrained_decoding_stays_in_code_range():
    torch.manual_seed(3)
    m = TinyDecoder(toy_config()).eval()
    prompt = pack(toy_sequence(10).unpack()[:-2], VOCAB)
    bias = torch.zeros(VOCAB.size)
    bias[VOCAB.pad_id] = 50.0  # the unconstrained model would write <pad> ...
    bias[:VOCAB.text_size] = 20.0  # ... or text, never a code
    bias[VOCAB.special("<start_of_image_codes>")] = 60.0  # but it opens blocks
    plain = m.logits
    m.logits = lambda h: plain(h) + bias  # instance override: generate calls model.logits
    for seed in range(5):
        out = m.generate(prompt, max_new_tokens=33, temperature=2.0, top_k=50, seed=seed, vq=SMALL_VQ,
                         stop_at_eos=False)
        new = out.input_ids[len(prompt):]
        assert VOCAB.pad_id not in new.tolist()
        blocks = [s for s in out.spans[len(prompt.spans):] if s.modality == Modality.IMAGE_CODES]
        assert len(blocks) == 3
        for s in blocks:
            ids = out.input_ids[s.start + 1:s.start + s.length - 1]
            assert len(ids) == 9 and ((ids >= VOCAB.code_offset) & (ids < VOCAB.code_offset + 1024)).all()
            assert out.input_ids[s.start + s.length - 1] == VOCAB.special("<end_of_image_codes>")
    with pytest.raises(mmtok.LimitError, match="max_new_tokens"):
        m.generate(prompt, max_new_tokens=5, vq=SMALL_VQ)  # the block it opens cannot fit: an error, never cut short


def test_placeholders_never_targets(model):
    seq = toy_sequence()
    batch = mmtok.collate([seq, toy_sequence(5, n_text=15)])
    keep = model.target_mask(batch)
    nxt = batch["input_ids"][:, 1:]
    for m in mmtok.PLACEHOLDERS:
        assert not keep[nxt == VOCAB.placeholder(m)].any()
    assert not keep[nxt == VOCAB.pad_id].any()
    logits, targets = model.target_logits(seq)
    assert len(targets) == int(keep[0].sum()) and not (targets == VOCAB.placeholder(Modality.IMAGE)).any()
    # the loss does not depend on what is predicted where the next token is a placeholder: no gradient of the loss
    # reaches the final hidden state at those positions (nor at the last one), every counted position gets one
    h = {}

    def keep_final_hidden(module, inputs, out):
        out.retain_grad()
        h["out"] = out

    hook = model.norm.register_forward_hook(keep_final_hidden)
    try:
        out = model(seq)
        out.loss.backward()
    finally:
        hook.remove()
        model.zero_grad(set_to_none=True)
    grad = h["out"].grad[0].abs().amax(-1)  # (T,)
    counted = model.target_mask(model.batch(seq))[0]
    assert (grad[:-1][~counted] == 0).all() and grad[-1] == 0 and (grad[:-1][counted] > 0).all()
    assert (seq.input_ids[1:][~counted] == VOCAB.placeholder(Modality.IMAGE)).all()  # the rows left out
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(logits, targets))
    # packed rows: the first token of the next document is never a target of the previous one
    rows = mmtok.pack_rows([toy_sequence(6), toy_sequence(7)], row_length=2 * len(toy_sequence(6)) + 4)
    keep = model.target_mask(rows)
    d = rows["document_ids"]
    assert not keep[d[:, 1:] != d[:, :-1]].any()


def test_packed_rows_equal_separate(model):
    """Documents packed in one row give the logits they give alone (document mask + per-document positions)."""
    a, b = toy_sequence(8), toy_sequence(9, n_text=4)
    rows = mmtok.pack_rows([a, b], row_length=len(a) + len(b))
    packed = model(rows).logits[0]
    torch.testing.assert_close(packed[:len(a)], model(a).logits[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(packed[len(a):], model(b).logits[0], rtol=1e-4, atol=1e-5)


def test_config_errors():
    with pytest.raises(mmtok.ConfigError, match="kv_heads"):
        toy_config(heads=4, kv_heads=3)
    with pytest.raises(mmtok.ConfigError, match="rope"):
        toy_config(rope="2d")
    with pytest.raises(mmtok.ConfigError, match="rope_sections"):
        toy_config(rope_sections=(1, 1, 1))
    with pytest.raises(mmtok.ConfigError, match="feature_dims"):
        toy_config(feature_dims=(("text", 3),))
    m = TinyDecoder(toy_config(feature_dims=()))
    with pytest.raises(mmtok.SequenceError, match="feature_dims"):
        m(toy_sequence())
    with pytest.raises(mmtok.SequenceError, match="decoder was built for"):
        TinyDecoder(toy_config(vocab=Vocab(text_size=201, image_codes=1024)))(toy_sequence())


@pytest.fixture
def one_thread():
    """One torch thread: a tiny model's matrices are too small to share out, and on a busy 2-core machine two
    threads spent most of their time waiting for each other (0.03 s vs 0.14-0.58 s per step here)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_overfit_writes_a_real_images_codes_back(one_thread):
    """A short overfit: [prompt + a 64x64 photo's patches] -> its 8 x 8 VQ codes, at most 150 steps (it stops at
    the first weights that predict every target: 95 steps, 8 s on the busy 2-core machine here); then greedy
    generation reproduces the codes exactly and the tokenizer decodes them to the VQ reconstruction."""
    torch.manual_seed(0)
    mt = mmtok.MultimodalTokenizer("gemini-like")
    vq = mt.vq.at_size(64)
    photo = mt.vq.preprocess("assets/images/chelsea.png")[:, 96:160, 96:160].contiguous()  # uint8 [3, 64, 64]
    codes = vq.encode_pixels(photo[None])[0]  # (8, 8): the VQ model is convolutional
    prompt = mt.encode(["Draw:", mmtok.Image(photo)])
    eos = Segment(Modality.CONTROL, torch.tensor([mt.vocab.eos_id]), sequential_positions(1))
    train = pack(prompt.unpack() + [vq.segment(codes, mt.vocab), eos], mt.vocab)
    cfg = DecoderConfig(vocab=mt.vocab, width=64, layers=2, heads=4, kv_heads=1, mlp_hidden=128, text_embed_dim=8,
                        feature_dims=(("image", prompt.features["image"].shape[1]),))
    m = TinyDecoder(cfg)
    assert m.num_parameters() <= 2_000_000
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    for _step in range(150):
        logits, targets = m.target_logits(train)
        if (logits.argmax(-1) == targets).all():
            break  # these weights predict every target (teacher forcing): generate with them
        loss = torch.nn.functional.cross_entropy(logits, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    else:
        pytest.fail("the decoder did not predict every target within 150 steps")
    out = m.generate(prompt, max_new_tokens=len(train) - len(prompt), vq=vq.config)
    assert check_against_full_recomputation(m, prompt, out, 8, vq.codebook_size) == 1
    block = [s for s in out.unpack() if s.modality == Modality.IMAGE_CODES]
    assert len(block) == 1 and torch.equal(vq.codes_from_segment(block[0], mt.vocab), codes)
    assert out.input_ids[-1] == mt.vocab.eos_id
    decoded = [d for d in mt.decode(out) if isinstance(d, mmtok.DecodedImage) and d.as_ == "codes"][0].pixels
    assert torch.equal(decoded, vq.decode(codes))
