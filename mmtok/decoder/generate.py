"""Generation for :class:`~mmtok.decoder.TinyDecoder`: KV cache, greedy / temperature / top-k, image-code blocks.

The decoder writes text or images. Outside an image-codes block it may emit a text piece, ``<eos>`` or
``<start_of_image_codes>`` (nothing else: placeholders need features a decoder cannot write, and code ids only
mean something inside a block). After ``<start_of_image_codes>`` decoding is constrained: exactly rows x cols
code ids (only ids of the VQ codebook are allowed), then ``<end_of_image_codes>``. Positions continue exactly as
:func:`mmtok.pack` would give them, so the result equals ``pack`` of the prompt's segments plus the new ones,
and :meth:`MultimodalTokenizer.decode` turns the image-codes block into pixels through the VQ decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.sequence import Segment, TokenSequence, pack, sequential_positions
from ..core.vocab import Modality, Vocab
from ..errors import ConfigError, LimitError
from ..vq.model import VQ_PRESETS, VQConfig
from ..vq.tokenizer import codes_positions, codes_segment
from .model import KVCache, TinyDecoder

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


@dataclass(frozen=True)
class _Rules:
    """What may be written where, and how the next id is picked."""

    free: torch.Tensor  # bool [V]: allowed outside a block (text pieces, <eos>, <start_of_image_codes>)
    codes: torch.Tensor  # bool [V]: allowed inside a block (the code ids of the VQ codebook)
    start: int  # id of <start_of_image_codes>
    end: int  # id of <end_of_image_codes>
    rows: int  # a block holds rows x cols code ids between its markers
    cols: int
    temperature: float  # 0 = greedy
    top_k: int | None
    gen: torch.Generator | None  # seeded when sampling with a seed

    @property
    def block_length(self) -> int:
        """Tokens of a whole block: the start marker, rows x cols codes, the end marker."""
        return self.rows * self.cols + 2

    def sample(self, logits: torch.Tensor, allowed: torch.Tensor) -> int:
        """One id from logits [V] among ``allowed`` (bool [V])."""
        return _sample(logits, allowed, self.temperature, self.top_k, self.gen)


def _check_options(max_new_tokens: int, temperature: float, top_k: int | None) -> None:
    """Bad settings fail before any work, with the value and what is allowed."""
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if not (isinstance(temperature, (int, float)) and temperature >= 0):
        raise ConfigError(f"temperature must be >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ConfigError(f"top_k must be a positive int or None, got {top_k!r}")


def _resolve_vq(vq: str | VQConfig, vocab: Vocab) -> tuple[VQConfig, str]:
    """The VQ config of a preset name (or a config) and the weights name its blocks carry; checked against vocab."""
    if isinstance(vq, VQConfig):
        vq_cfg, vq_name = vq, ""
    elif vq in VQ_PRESETS:
        vq_cfg, vq_name = VQ_PRESETS[vq], f"{vq}.safetensors"
    else:
        raise ConfigError(f"unknown VQ preset {vq!r}; use one of {sorted(VQ_PRESETS)} or a VQConfig")
    if vocab.image_codes < vq_cfg.codebook_size:
        raise ConfigError(f"the vocabulary reserves {vocab.image_codes} image codes; the VQ model needs "
                          f"{vq_cfg.codebook_size}")
    return vq_cfg, vq_name


def _rules(vocab: Vocab, vq_cfg: VQConfig, temperature: float, top_k: int | None, seed: int | None) -> _Rules:
    """The masks of what may be written outside and inside a block of ``vq_cfg``'s codes, and the sampler."""
    start, end = vocab.special("<start_of_image_codes>"), vocab.special("<end_of_image_codes>")
    free = torch.zeros(vocab.size, dtype=torch.bool)
    free[:vocab.text_size] = True
    free[[vocab.eos_id, start]] = True
    codes = torch.zeros(vocab.size, dtype=torch.bool)
    codes[vocab.code_offset:vocab.code_offset + vq_cfg.codebook_size] = True
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    return _Rules(free, codes, start, end, *vq_cfg.grid, temperature, top_k, gen)


class _Cursor:
    """Where each new token goes: the 3D position :func:`pack` would give it, and the open image-codes block."""

    def __init__(self, seq: TokenSequence, rules: _Rules) -> None:
        self.top = int(seq.positions_3d.max()) + 1 if len(seq) else 0  # where the next segment starts (as pack)
        self.block_pos = codes_positions(rules.rows, rules.cols)  # (3, rows*cols + 2), relative to the offset
        self.block_start: int | None = None  # index in ``new`` of the open block's start marker
        self.block_offset = 0  # the open block's position offset

    def open_block(self, index: int) -> torch.Tensor:
        """The start marker, new token number ``index``, opens a block: its position (3,)."""
        self.block_start, self.block_offset = index, self.top
        return self.block_pos[:, 0] + self.block_offset

    def outside(self) -> torch.Tensor:
        """A token outside a block (text or control) takes the next position on all three axes: (3,)."""
        p3 = torch.full((3,), self.top)
        self.top += 1
        return p3

    def in_block(self, k: int) -> torch.Tensor:
        """Token ``k`` of the open block (1 .. rows*cols + 1): its position (3,)."""
        return self.block_pos[:, k] + self.block_offset

    def close_block(self) -> None:
        self.block_start, self.top = None, self.block_offset + int(self.block_pos.max()) + 1


def _next_token(logits: torch.Tensor, new: list[int], rules: _Rules, cursor: _Cursor, start_image: bool,
                limit: int, budget: str) -> tuple[int, torch.Tensor]:
    """The next id (forced or sampled under the constraints) and its 3D position (3,); moves the cursor.

    Raises :class:`LimitError` when the id opens a block that would not fit in ``limit`` new tokens.
    """
    if cursor.block_start is None:
        tok = rules.start if start_image and not new else rules.sample(logits, rules.free)
        if tok != rules.start:
            return tok, cursor.outside()
        if len(new) + rules.block_length > limit:
            raise LimitError(f"the decoder opened an image-codes block of {rules.rows}x{rules.cols} codes at new "
                             f"token {len(new)}, but only {limit - len(new)} tokens remain ({budget}); raise "
                             f"max_new_tokens to at least {len(new) + rules.block_length}")
        return tok, cursor.open_block(len(new))
    k = len(new) - cursor.block_start  # index inside the block, 1 .. rows*cols + 1
    tok = rules.end if k == rules.rows * rules.cols + 1 else rules.sample(logits, rules.codes)
    p3 = cursor.in_block(k)
    if tok == rules.end:
        cursor.close_block()
    return tok, p3


def _prefill(model: TinyDecoder, seq: TokenSequence) -> tuple[torch.Tensor, KVCache]:
    """Run the prompt: the logits [V] of the first new token and the KV cache."""
    batch = model.batch(seq)
    x = model.embed_inputs(batch["input_ids"], batch["features"])
    pos = batch["positions"] if model.config.rope == "1d" else batch["positions_3d"]
    h, cache = model.hidden(x, pos)
    return model.logits(h[0, -1]), cache


def _extend(model: TinyDecoder, tok: int, pos: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, KVCache]:
    """Feed one new id at ``pos`` ([1, 1] for 1D rotary positions, [1, 3, 1] for 3D) through the cache: the
    logits [V] of the token after it and the grown cache."""
    x = model.embed_inputs(torch.tensor([[tok]]), {})
    h, cache = model.hidden(x, pos, cache=cache)
    return model.logits(h[0, -1]), cache


def _write(model: TinyDecoder, seq: TokenSequence, limit: int, rules: _Rules, start_image: bool, stop_at_eos: bool,
           budget: str) -> list[int]:
    """The new ids, one forward step each through the KV cache, until ``limit`` or ``<eos>``."""
    logits, cache = _prefill(model, seq)
    cursor = _Cursor(seq, rules)
    new: list[int] = []
    while len(new) < limit:
        tok, p3 = _next_token(logits, new, rules, cursor, start_image, limit, budget)
        new.append(tok)
        if tok == model.config.vocab.eos_id and stop_at_eos:
            break
        if len(new) == limit:
            break
        step_pos = torch.tensor([[len(seq) + len(new) - 1]]) if model.config.rope == "1d" else p3.reshape(1, 3, 1)
        logits, cache = _extend(model, tok, step_pos, cache)
    return new


@torch.no_grad()
def generate(model: TinyDecoder, seq: TokenSequence, max_new_tokens: int, *, temperature: float = 0.0,
             top_k: int | None = None, seed: int | None = None, vq: str | VQConfig = "vq-f8-4096",
             stop_at_eos: bool = True, start_image: bool = False) -> TokenSequence:
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
    _check_options(max_new_tokens, temperature, top_k)
    vq_cfg, vq_name = _resolve_vq(vq, cfg.vocab)
    rules = _rules(cfg.vocab, vq_cfg, temperature, top_k, seed)
    limit = min(max_new_tokens, cfg.max_length - len(seq))
    was_training = model.training
    model.eval()
    new = _write(model, seq, limit, rules, start_image, stop_at_eos,
                 budget=f"max_new_tokens={max_new_tokens}, max_length={cfg.max_length}")
    model.train(was_training)
    return pack(seq.unpack() + _segments(new, cfg.vocab, vq_cfg, vq_name), cfg.vocab, seq.max_length)


def _segments(new: list[int], vocab: Vocab, vq_cfg: VQConfig, vq_name: str) -> list[Segment]:
    """Group generated ids into segments: runs of text, image-codes blocks and control tokens."""
    out: list[Segment] = []
    i = 0
    start_codes = vocab.special("<start_of_image_codes>")
    while i < len(new):
        if new[i] == start_codes:
            n = vq_cfg.grid[0] * vq_cfg.grid[1]
            codes = torch.tensor(new[i + 1:i + 1 + n]) - vocab.code_offset
            out.append(codes_segment(codes.reshape(vq_cfg.grid), vocab, vq_cfg,
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
