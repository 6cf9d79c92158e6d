"""Generation for :class:`~mmtok.decoder.TinyDecoder`: KV cache, greedy / temperature / top-k, image-code blocks.

The decoder writes text or images. Outside an image-codes block it may emit a text piece, ``<eos>`` or
``<start_of_image_codes>`` (nothing else: placeholders need features a decoder cannot write, and code ids only
mean something inside a block). After ``<start_of_image_codes>`` decoding is constrained: exactly rows x cols
code ids (only ids of the VQ codebook are allowed), then ``<end_of_image_codes>``. Positions continue exactly as
:func:`mmtok.pack` would give them, so the result equals ``pack`` of the prompt's segments plus the new ones,
and :meth:`MultimodalTokenizer.decode` turns the image-codes block into pixels through the VQ decoder.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError, LimitError
from ..core.sequence import Segment, TokenSequence, pack, sequential_positions
from ..core.vocab import Modality
from ..vq.tokenizer import codes_positions, codes_segment
from ..vq.model import VQ_PRESETS, VQConfig

__all__ = ["generate"]


def _sample(logits: torch.Tensor, allowed: torch.Tensor, temperature: float, top_k: int | None,
            gen: torch.Generator | None) -> int:
    """One id from logits [V] restricted to ``allowed`` (bool [V]); greedy when temperature == 0."""
    logits = logits.float().masked_fill(~allowed, float("-inf"))
    if temperature == 0:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k is not None and top_k < int(allowed.sum()):
        kth = logits.topk(top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return int(torch.multinomial(logits.softmax(-1), 1, generator=gen))


@torch.no_grad()
def generate(model, seq: TokenSequence, max_new_tokens: int, *, temperature: float = 0.0, top_k: int | None = None,
             seed: int | None = None, vq: str | VQConfig = "vq-f8-4096", stop_at_eos: bool = True,
             start_image: bool = False) -> TokenSequence:
    """Continue ``seq`` with up to ``max_new_tokens`` tokens (fewer when ``<eos>`` comes first).

    Args:
        model: a :class:`~mmtok.decoder.TinyDecoder` built for ``seq.vocab``.
        temperature: 0 = greedy; otherwise softmax sampling at this temperature (seeded by ``seed``).
        top_k: sample only among the k most likely allowed ids.
        vq: the VQ preset name (or a :class:`VQConfig`) whose grid (rows x cols) and codebook an image-codes block
            uses; its name goes into the block's metadata so that the tokenizer decodes it with that model.
        stop_at_eos: stop after ``<eos>``.
        start_image: write an image now: the first new token is ``<start_of_image_codes>`` (not sampled).

    Returns the prompt's segments plus the new ones (text runs, image-codes blocks, ``<eos>``) as one sequence.
    Raises :class:`LimitError` when an image-codes block would not fit in ``max_new_tokens`` or the decoder's
    ``max_length`` (a block is never cut short).
    """
    cfg = model.config
    vocab = cfg.vocab
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if not (isinstance(temperature, (int, float)) and temperature >= 0):
        raise ConfigError(f"temperature must be >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ConfigError(f"top_k must be a positive int or None, got {top_k!r}")
    if isinstance(vq, VQConfig):
        vq_cfg, vq_name = vq, ""
    elif vq in VQ_PRESETS:
        vq_cfg, vq_name = VQ_PRESETS[vq], f"{vq}.safetensors"
    else:
        raise ConfigError(f"unknown VQ preset {vq!r}; use one of {sorted(VQ_PRESETS)} or a VQConfig")
    rows = cols = vq_cfg.grid
    if vocab.image_codes < vq_cfg.codebook_size:
        raise ConfigError(f"the vocabulary reserves {vocab.image_codes} image codes; the VQ model needs "
                          f"{vq_cfg.codebook_size}")
    limit = min(max_new_tokens, cfg.max_length - len(seq))
    start_codes, end_codes = vocab.special("<start_of_image_codes>"), vocab.special("<end_of_image_codes>")

    free = torch.zeros(vocab.size, dtype=torch.bool)  # outside a block: text, <eos>, <start_of_image_codes>
    free[:vocab.text_size] = True
    free[[vocab.eos_id, start_codes]] = True
    in_block = torch.zeros(vocab.size, dtype=torch.bool)
    in_block[vocab.code_offset:vocab.code_offset + vq_cfg.codebook_size] = True
    block_pos = codes_positions(rows, cols)  # (3, rows*cols + 2), relative to the block's offset
    gen = torch.Generator().manual_seed(seed) if seed is not None else None

    was_training = model.training
    model.eval()
    batch = model.batch(seq)
    x = model.embed_inputs(batch["input_ids"], batch["features"])
    pos = batch["positions"] if cfg.rope == "1d" else batch["positions_3d"]
    h, cache = model.hidden(x, pos)
    logits = model.logits(h[0, -1])
    top = int(seq.positions_3d.max()) + 1 if len(seq) else 0  # where the next segment starts (as pack does)

    new: list[int] = []
    block_start, block_offset = None, 0  # index in ``new`` of the open block's start marker, its position offset
    while len(new) < limit:
        if block_start is None:
            forced = start_image and not new
            tok = start_codes if forced else _sample(logits, free, temperature, top_k, gen)
            if tok == start_codes:
                if len(new) + rows * cols + 2 > limit:
                    raise LimitError(f"the decoder opened an image-codes block of {rows}x{cols} codes at new token "
                                     f"{len(new)}, but only {limit - len(new)} tokens remain "
                                     f"(max_new_tokens={max_new_tokens}, max_length={cfg.max_length}); raise "
                                     f"max_new_tokens to at least {len(new) + rows * cols + 2}")
                block_start, block_offset = len(new), top
                p3 = block_pos[:, 0] + block_offset
            else:
                p3 = torch.full((3,), top)
                top += 1
        else:
            k = len(new) - block_start  # index inside the block, 1 .. rows*cols + 1
            tok = end_codes if k == rows * cols + 1 else _sample(logits, in_block, temperature, top_k, gen)
            p3 = block_pos[:, k] + block_offset
            if tok == end_codes:
                block_start, top = None, block_offset + int(block_pos.max()) + 1
        new.append(tok)
        if tok == vocab.eos_id and stop_at_eos:
            break
        if len(new) == limit:
            break
        step_pos = torch.tensor([[len(seq) + len(new) - 1]]) if cfg.rope == "1d" else p3.reshape(1, 3, 1)
        x = model.embed_inputs(torch.tensor([[tok]]), {})
        h, cache = model.hidden(x, step_pos, cache=cache)
        logits = model.logits(h[0, -1])
    model.train(was_training)
    return pack(seq.unpack() + _segments(new, vocab, vq_cfg, vq_name), vocab, seq.max_length)


def _segments(new: list[int], vocab, vq_cfg: VQConfig, vq_name: str) -> list[Segment]:
    """Group generated ids into segments: runs of text, image-codes blocks and control tokens."""
    out: list[Segment] = []
    i = 0
    start_codes = vocab.special("<start_of_image_codes>")
    while i < len(new):
        if new[i] == start_codes:
            n = vq_cfg.grid ** 2
            codes = torch.tensor(new[i + 1:i + 1 + n]) - vocab.code_offset
            out.append(codes_segment(codes.reshape(vq_cfg.grid, vq_cfg.grid), vocab, vq_cfg,
                                     vq_name, source="generated"))
            i += n + 2
        elif new[i] < vocab.text_size:
            j = i
            while j < len(new) and new[j] < vocab.text_size:
                j += 1
            out.append(Segment(Modality.TEXT, torch.tensor(new[i:j]), sequential_positions(j - i),
                               meta={"source": "generated"}))
            i = j
        else:
            out.append(Segment(Modality.CONTROL, torch.tensor([new[i]]), sequential_positions(1)))
            i += 1
    return out
