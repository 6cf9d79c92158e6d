"""A tiny Gemma-style decoder that reads interleaved :class:`TokenSequence` s and writes discrete tokens back.

Gemini is a Transformer decoder over one interleaved sequence; this is a small, honest version of it, used to
check round trips through a model (``mmtok.roundtrip.decoder_roundtrip``):

- discrete ids go through embedding tables over the unified vocabulary: the 32,768 text pieces through a table
  that may be factorized (``text_embed_dim`` < ``width``, as in ALBERT: a small table plus a projection, which
  keeps a tiny model tiny), special tokens and VQ image codes through a full-width table;
  continuous features (image / video patch pixels, audio mel stacks) go through one linear projection per
  modality and are written at their placeholder positions;
- pre-norm blocks with RMSNorm (Gemma's ``1 + weight`` form), rotary positions (1D from ``positions`` or 3D
  M-RoPE from ``positions_3d``), multi-query / grouped-query attention through
  ``torch.nn.functional.scaled_dot_product_attention`` and a GeGLU MLP; the output head is tied to the embeddings;
- logits over the unified discrete vocabulary; the loss is next-token cross-entropy against the batch's
  ``labels`` (:class:`mmtok.Batch`: Hugging Face's convention, -100 ignored, the shift done here), which
  ``collate`` / ``pack_rows`` set to -100 at placeholders, padding and each document's first token, so only
  discrete tokens are targets and a packed document is never the target of the previous one.

Generation (KV cache, greedy / temperature / top-k, constrained image-codes blocks) lives in
:mod:`mmtok.decoder.generate`; ``TinyDecoder.generate`` calls it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from ..core.batch import IGNORE_INDEX, Batch, as_batch, collate, document_attention_mask
from ..core.sequence import TokenSequence
from ..core.vocab import PLACEHOLDERS, Modality, Vocab
from ..errors import ConfigError, SequenceError
from ..vq.model import VQConfig

__all__ = ["DecoderConfig", "TinyDecoder", "KVCache"]

KVCache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (B, kv_heads, T, head_dim)


@dataclass(frozen=True)
class DecoderConfig:
    """Architecture of a :class:`TinyDecoder`. Frozen; checked at construction."""

    vocab: Vocab  # the unified id space the decoder reads and writes (text + specials + image codes)
    width: int = 128  # model width (residual stream)
    layers: int = 4  # transformer blocks
    heads: int = 4  # query heads
    kv_heads: int = 1  # key/value heads: 1 = multi-query attention (Gemma 2B), == heads = multi-head
    mlp_hidden: int = 256  # GeGLU hidden width (gate and up projections each width -> mlp_hidden)
    text_embed_dim: int | None = None  # factorized width of the 32k text-piece table; None = width (not factorized)
    rope: str = "3d"  # "1d": rotary angles from ``positions``; "3d": M-RoPE from ``positions_3d`` (t, h, w)
    rope_sections: tuple[int, int, int] | None = None  # frequency pairs for (t, h, w), interleaved; default ~1/3 each
    rope_theta: float = 10_000.0
    max_length: int = 32_768  # longest sequence (prompt + generated) the decoder accepts
    feature_dims: tuple[tuple[str, int], ...] = ()  # (modality label, feature width) of each continuous input
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if not isinstance(self.vocab, Vocab):
            raise ConfigError(f"DecoderConfig.vocab must be an mmtok Vocab, got {type(self.vocab).__name__}")
        for name in ("width", "layers", "heads", "kv_heads", "mlp_hidden", "max_length"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"DecoderConfig.{name} must be a positive int, got {v!r}")
        if self.width % self.heads:
            raise ConfigError(f"DecoderConfig.width={self.width} must be a multiple of heads={self.heads}")
        if self.heads % self.kv_heads:
            raise ConfigError(f"DecoderConfig.heads={self.heads} must be a multiple of kv_heads={self.kv_heads} "
                              f"(1 = multi-query attention)")
        if self.head_dim % 2:
            raise ConfigError(f"head_dim = width / heads = {self.head_dim} must be even for rotary positions")
        if self.text_embed_dim is not None and (not isinstance(self.text_embed_dim, int) or self.text_embed_dim < 1):
            raise ConfigError(f"DecoderConfig.text_embed_dim must be a positive int or None, got "
                              f"{self.text_embed_dim!r}")
        if self.rope not in ("1d", "3d"):
            raise ConfigError(f"DecoderConfig.rope={self.rope!r}; use '1d' (positions) or '3d' (positions_3d)")
        pairs = self.head_dim // 2
        sections = self.rope_sections
        if sections is None:
            sections = (pairs - 2 * (pairs // 3), pairs // 3, pairs // 3)
        sections = tuple(int(s) for s in sections)
        if len(sections) != 3 or sum(sections) != pairs or min(sections) < 0:
            raise ConfigError(f"DecoderConfig.rope_sections={self.rope_sections} must be three counts summing to "
                              f"head_dim / 2 = {pairs}")
        object.__setattr__(self, "rope_sections", sections)
        dims = tuple((Modality.parse(label).label, int(d)) for label, d in dict(self.feature_dims).items())
        for label, d in dims:
            if Modality.parse(label) not in PLACEHOLDERS or d < 1:
                raise ConfigError(f"DecoderConfig.feature_dims: {label!r} -> {d}; continuous inputs are image, "
                                  f"video or audio with a positive width")
        object.__setattr__(self, "feature_dims", dims)

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    def to_dict(self) -> dict:
        d = asdict(self)
        d["vocab"] = self.vocab.describe()
        return d


class RMSNorm(nn.Module):
    """Gemma's RMSNorm: ``x / rms(x) * (1 + weight)``, weight initialised to zero."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * (1.0 + self.weight)


def rope_axes(cfg: DecoderConfig) -> torch.Tensor:
    """int64 [head_dim/2]: which position axis (0 time, 1 row, 2 column) turns each rotary frequency pair.

    The pairs are dealt round-robin over the axes (while each has pairs left in ``rope_sections``), as in
    Qwen3-VL's interleaved M-RoPE, so every axis gets both fast and slow frequencies. (Qwen2-VL's contiguous
    sections leave the column axis only the slowest frequencies, which cannot tell neighbouring cells apart in a
    small model.)
    """
    left, axes = list(cfg.rope_sections), []
    while len(axes) < cfg.head_dim // 2:
        for a in range(3):
            if left[a]:
                axes.append(a)
                left[a] -= 1
    return torch.tensor(axes)


def rope_angles(cfg: DecoderConfig, positions: torch.Tensor) -> torch.Tensor:
    """Rotary angles float [B, T, head_dim/2] from ``positions`` [B, T] (1d) or ``positions_3d`` [B, 3, T] (3d).

    For 3D (M-RoPE), frequency pair i turns with position axis ``rope_axes(cfg)[i]``. Text tokens have equal
    coordinates on all axes, so for text 3D equals 1D.
    """
    pairs = cfg.head_dim // 2
    inv_freq = cfg.rope_theta ** (-torch.arange(pairs, dtype=torch.float64) / pairs)  # (P,)
    if cfg.rope == "1d":
        pos = positions[:, :, None].double()  # (B, T, 1)
    else:
        pos = rearrange(positions[:, rope_axes(cfg), :], "b p t -> b t p").double()  # (B, T, P)
    return (pos * inv_freq).float()


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` [B, H, T, D] by ``angles`` [B, T, D/2] (rotate-half convention)."""
    cos, sin = angles.cos()[:, None], angles.sin()[:, None]  # (B, 1, T, D/2)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Attention(nn.Module):
    """Causal multi-query (kv_heads=1) / grouped-query / multi-head attention with rotary positions."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.q = nn.Linear(cfg.width, cfg.heads * cfg.head_dim, bias=False)
        self.kv = nn.Linear(cfg.width, 2 * cfg.kv_heads * cfg.head_dim, bias=False)
        self.o = nn.Linear(cfg.heads * cfg.head_dim, cfg.width, bias=False)

    def forward(self, x: torch.Tensor, angles: torch.Tensor, mask: torch.Tensor | None,
                cache: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, tuple]:
        """x [B, T, width]; mask bool [B, 1, T, S] or None (causal); cache = past (keys, values) or None."""
        q = apply_rope(rearrange(self.q(x), "b t (h d) -> b h t d", h=self.cfg.heads), angles)
        k, v = rearrange(self.kv(x), "b t (two h d) -> two b h t d", two=2, h=self.cfg.kv_heads)
        k = apply_rope(k, angles)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (B, kv, S, D)
        causal = mask is None and cache is None and x.shape[1] > 1
        if mask is None and cache is not None and x.shape[1] > 1:  # several new tokens after a cache
            s, t = k.shape[2], x.shape[1]
            mask = torch.ones(t, s, dtype=torch.bool).tril(s - t)[None, None]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                             enable_gqa=self.cfg.kv_heads != self.cfg.heads)  # (B, H, T, D)
        return self.o(rearrange(out, "b h t d -> b t (h d)")), (k, v)


class GeGLU(nn.Module):
    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.gate_up = nn.Linear(cfg.width, 2 * cfg.mlp_hidden, bias=False)
        self.down = nn.Linear(cfg.mlp_hidden, cfg.width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.gelu(gate, approximate="tanh") * up)


class Block(nn.Module):
    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.norm1, self.attn = RMSNorm(cfg.width, cfg.norm_eps), Attention(cfg)
        self.norm2, self.mlp = RMSNorm(cfg.width, cfg.norm_eps), GeGLU(cfg)

    def forward(self, x, angles, mask, cache):
        h, cache = self.attn(self.norm1(x), angles, mask, cache)
        x = x + h
        return x + self.mlp(self.norm2(x)), cache


@dataclass
class DecoderOutput:
    """What :meth:`TinyDecoder.forward` returns."""

    logits: torch.Tensor  # float [B, T, vocab.size]: next-token logits at every position
    loss: torch.Tensor | None  # mean cross-entropy over the discrete targets (None when there is none)
    num_targets: int  # how many targets the loss counted
    cache: KVCache | None = field(default=None, repr=False)


class TinyDecoder(nn.Module):
    """A tiny Gemma-style decoder over the unified vocabulary. See the module docstring."""

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.config = cfg = config
        e = cfg.text_embed_dim or cfg.width
        self.text_embed = nn.Embedding(cfg.vocab.text_size, e)  # text pieces (factorized when e < width)
        self.text_in = nn.Linear(e, cfg.width, bias=False) if e != cfg.width else nn.Identity()
        self.text_out = nn.Linear(cfg.width, e, bias=False) if e != cfg.width else nn.Identity()
        self.embed = nn.Embedding(cfg.vocab.size - cfg.vocab.text_size, cfg.width)  # specials + image codes
        self.feature_proj = nn.ModuleDict({label: nn.Linear(d, cfg.width) for label, d in cfg.feature_dims})
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
        self.norm = RMSNorm(cfg.width, cfg.norm_eps)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # --- inputs -----------------------------------------------------------------------------------------
    def batch(self, inputs: TokenSequence | Mapping) -> Batch:
        """The :class:`mmtok.Batch` of ``inputs`` (a sequence, a batch, or a mapping with a batch's keys), checked
        against the decoder (a mapping without one of the keys raises :class:`SequenceError` naming it)."""
        if isinstance(inputs, TokenSequence):
            batch = collate([inputs])
        elif isinstance(inputs, Mapping):
            batch = as_batch(inputs)
        else:
            raise SequenceError(f"TinyDecoder reads a TokenSequence or an mmtok.Batch (from mmtok.collate, "
                                f"mmtok.pack_rows or the tokenizer's text= call), got {type(inputs).__name__}")
        if batch["vocab"] != self.config.vocab:
            raise SequenceError(f"the sequence uses {batch['vocab']}, the decoder was built for "
                                f"{self.config.vocab}; tokenize with the same text model and VQ codebook")
        if batch["input_ids"].shape[1] > self.config.max_length:
            raise SequenceError(f"{batch['input_ids'].shape[1]:,} tokens exceed the decoder's max_length="
                                f"{self.config.max_length:,}")
        return batch

    def embed_inputs(self, input_ids: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """input ids [B, T] + feature rows per modality -> input vectors [B, T, width].

        Feature rows replace the embeddings of their placeholders, in row-major order (as collate lays them).
        """
        cfg = self.config
        text = input_ids < cfg.vocab.text_size
        x = torch.where(text[..., None], self.text_in(self.text_embed(input_ids.clamp(max=cfg.vocab.text_size - 1))),
                        self.embed((input_ids - cfg.vocab.text_size).clamp(min=0)))
        x = x * math.sqrt(cfg.width)  # (B, T, width), Gemma's embedding scaling
        for m in PLACEHOLDERS:
            where = input_ids == cfg.vocab.placeholder(m)
            n = int(where.sum())
            rows = features.get(m.label)
            have = 0 if rows is None else len(rows)
            if n != have:
                raise SequenceError(f"{n} {m.label} placeholders but {have} {m.label} feature rows")
            if n == 0:
                continue
            if m.label not in self.feature_proj:
                raise SequenceError(f"the sequence has {m.label} features but the decoder has no {m.label} "
                                    f"projection; build DecoderConfig(feature_dims=...) with ({m.label!r}, "
                                    f"{rows.shape[1]})")
            x = x.masked_scatter(where[..., None], self.feature_proj[m.label](rows.to(x.dtype)))
        return x

    # --- model ------------------------------------------------------------------------------------------
    def hidden(self, x: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None = None,
               cache: KVCache | None = None) -> tuple[torch.Tensor, KVCache]:
        """Input vectors [B, T, width] -> final hidden states [B, T, width] and the updated KV cache."""
        angles = rope_angles(self.config, positions)
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, angles, mask, None if cache is None else cache[i])
            new_cache.append(kv)
        return self.norm(x), new_cache

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states [..., width] -> logits [..., vocab.size] through the tied embeddings (text | rest)."""
        return torch.cat([self.text_out(h) @ self.text_embed.weight.T, h @ self.embed.weight.T], dim=-1)

    def forward(self, inputs: TokenSequence | Mapping, return_cache: bool = False) -> DecoderOutput:
        """Logits at every position and the loss over the next-token targets (``labels`` not -100)."""
        b = self.batch(inputs)
        h, cache = self._run(b)
        loss, n = self._loss(h, b)
        return DecoderOutput(self.logits(h), loss, n, cache if return_cache else None)

    def loss(self, inputs: TokenSequence | Mapping) -> torch.Tensor:
        """The training loss alone (logits are computed only where a target is counted)."""
        logits, targets = self.target_logits(inputs)
        if len(targets) == 0:
            raise SequenceError("the sequence has no discrete next-token target to learn from")
        return F.cross_entropy(logits.float(), targets)

    def target_logits(self, inputs: TokenSequence | Mapping) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits float [n, vocab.size], targets int64 [n]) at the n counted next-token targets, in order."""
        b = self.batch(inputs)
        keep = self.target_mask(b)
        return self.logits(self._run(b)[0][:, :-1][keep]), b["labels"][:, 1:][keep]

    def target_mask(self, batch: Mapping) -> torch.Tensor:
        """bool [B, T-1]: which next tokens are counted: ``labels[:, 1:] != -100`` (see :class:`mmtok.Batch`)."""
        return as_batch(batch)["labels"][:, 1:] != IGNORE_INDEX

    def _run(self, b: Batch) -> tuple[torch.Tensor, KVCache]:
        x = self.embed_inputs(b["input_ids"], b["features"])
        positions = b["positions"] if self.config.rope == "1d" else b["positions_3d"]
        mask = None  # one document per row from column 0, padding after it: causal attention is enough
        if bool((b["documents"][:, 1] > 0).any()):  # packed rows: attention stays inside each document
            mask = document_attention_mask(b["document_ids"])
            mask |= torch.eye(mask.shape[-1], dtype=torch.bool, device=mask.device)  # padding attends to itself
            mask = mask[:, None]
        return self.hidden(x, positions, mask)

    def _loss(self, h: torch.Tensor, b: Batch) -> tuple[torch.Tensor | None, int]:
        keep = self.target_mask(b)
        n = int(keep.sum())
        if n == 0:
            return None, 0
        logits = self.logits(h[:, :-1][keep])  # (n, V) only where a target counts
        return F.cross_entropy(logits.float(), b["labels"][:, 1:][keep]), n

    def generate(self, seq: TokenSequence, max_new_tokens: int, *, temperature: float = 0.0,
                 top_k: int | None = None, seed: int | None = None, vq: str | VQConfig = "vq-f8-4096",
                 stop_at_eos: bool = True, start_image: bool = False) -> TokenSequence:
        """Continue ``seq`` with a KV cache; image-codes blocks are constrained (exactly rows x cols code ids,
        then ``<end_of_image_codes>``). See :func:`mmtok.decoder.generate.generate`."""
        from .generate import generate

        return generate(self, seq, max_new_tokens, temperature=temperature, top_k=top_k, seed=seed,
                        vq=vq, stop_at_eos=stop_at_eos, start_image=start_image)
