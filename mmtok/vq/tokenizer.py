"""Discrete image codes: the VQ tokenizer a model would use to WRITE images.

``VQImageTokenizer.default()`` loads the bundled model (``assets/vq/vq-f8-4096.safetensors`` + its JSON config
and training record; trained here by ``mmtok train-vq``). Weights load through safetensors only.

- ``preprocess(img)`` -> uint8 [3, 256, 256]: the picture the decoder reconstructs. Any size is accepted: the
  shorter side is resized to 256 and the centred square kept (the image path's ``fixed``/``crop`` policy, with
  its loader: EXIF, modes, limits, typed errors).
- ``encode(img)`` -> int64 [32, 32] codes in ``0 .. codebook_size-1``; ``decode(codes)`` -> uint8 [3, 256, 256].
- ``num_tokens(height, width)`` is THE count, :func:`num_codes` (needs no weights): (256 / downsample)^2 = 1024
  for any input size.
- ``segment(codes, vocab)``: ``<start_of_image_codes>``, the codes as unified ids (``vocab.code_offset + code``,
  row by row), ``<end_of_image_codes>``; code (r, c) at 3D position (0, 1 + r, 1 + c); grid in the metadata.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from ..core.bundled import asset_path
from ..core.meta import CodesMeta
from ..core.positions import framed_blocks
from ..core.protocol import ProvenanceFromTable, empty_provenance, register_segment_tokenizer
from ..core.segment import Segment
from ..core.vocab import Modality, Vocab, default_vocab
from ..errors import AssetError, InputError, SequenceError, VocabError
from ..image.plan import ImageConfig, plan_image
from ..image.tokenizer import ImageTokenizer, view_boxes
from ..media.imageio import ImageSource
from .model import VQ_PRESETS, VQConfig, VQModel

__all__ = ["VQImageTokenizer", "DEFAULT_VQ", "codes_segment", "codes_segment_length", "codes_positions", "num_codes",
           "picture_config"]

DEFAULT_VQ = asset_path("vq", "vq-f8-4096.safetensors")


def picture_config(config: VQConfig) -> ImageConfig:
    """How a VQ model of ``config`` sees pictures: the centred square, resized to ``image_size``, in
    ``downsample`` x ``downsample`` cells (the image path's ``fixed``/``crop`` policy)."""
    return ImageConfig(size=config.image_size, aspect="crop", patch_size=config.downsample)


def num_codes(config: VQConfig, height: int, width: int) -> int:
    """THE code count of a ``height`` x ``width`` picture: (image_size / downsample)^2, whatever the size (the crop
    policy makes it independent of it); the size is still checked like every image path's. Needs no weights."""
    plan_image(height, width, picture_config(config))
    rows, cols = config.grid
    return rows * cols


def codes_positions(h: int, w: int) -> torch.Tensor:
    """Relative 3D positions int64 [3, h*w + 2] of an image-codes block: the start marker at (0, 0, 0), code
    (r, c) at (0, 1 + r, 1 + c), the end marker at (0, 1 + h, 1 + w) (:func:`mmtok.core.positions.framed_blocks`)."""
    return framed_blocks(h, w, 1, 0, 0, 0)[1]


def codes_segment_length(num_codes: int) -> int:
    """Tokens of an image-codes segment (:func:`codes_segment`): the codes and their two markers."""
    return num_codes + 2


def codes_segment(codes: torch.Tensor, vocab: Vocab, config: VQConfig, vq_model: str = "",
                  source: str | None = None, original_size: tuple[int, int] | None = None) -> Segment:
    """The image-codes segment of int64 [h, w] ``codes`` made by a VQ model of ``config`` (no weights needed).

    ``<start_of_image_codes>``, the codes as unified ids (``vocab.code_offset + code``, row by row),
    ``<end_of_image_codes>``; positions from :func:`codes_positions`; grid and VQ facts in the metadata.
    """
    h, w = codes.shape
    if vocab.image_codes < config.codebook_size:
        raise VocabError(f"the vocabulary reserves {vocab.image_codes} image codes but this VQ model has "
                         f"{config.codebook_size}; build the Vocab with image_codes={config.codebook_size}")
    ids, pos = framed_blocks(h, w, 1, vocab.special("<start_of_image_codes>"), vocab.special("<end_of_image_codes>"),
                             codes.reshape(-1).long() + vocab.code_offset)
    meta = CodesMeta(grid=(h, w), codebook_size=config.codebook_size, downsample=config.downsample,
                     image_size=config.image_size, vq_model=vq_model, source=source, original_size=original_size)
    return Segment(Modality.IMAGE_CODES, ids, pos, meta=meta)


class VQImageTokenizer(ProvenanceFromTable):
    """Pictures <-> discrete codes through a :class:`~mmtok.vq.model.VQModel` (see the module docstring)."""

    def __init__(self, model: VQModel | None = None, source: str = "<model>", record: dict | None = None,
                 image_size: int | None = None, config: VQConfig | None = None) -> None:
        """``VQImageTokenizer()`` is the bundled model (as :meth:`default`); ``model=None`` with a ``config`` is a
        tokenizer without weights (:meth:`without_weights`)."""
        if model is None and config is None:  # the bundled model
            model, source, record = _load(DEFAULT_VQ)
        self.model = model.eval() if model is not None else None
        config = model.cfg if model is not None else config
        # the model's config, or with another picture side (see :meth:`at_size`; the convolutions do not use it)
        self.config: VQConfig = config if image_size is None else replace(config, image_size=image_size)
        self.source = source
        self.record = record or {}
        self.image = ImageTokenizer(picture_config(self.config))

    def __repr__(self) -> str:
        weights = Path(self.source).name if self.model is not None else "none (layout only)"
        return (f"VQImageTokenizer(weights={weights!r}, codebook_size={self.codebook_size}, "
                f"image_size={self.config.image_size}, downsample={self.config.downsample})")

    # --- construction -----------------------------------------------------------------------------------
    @classmethod
    def without_weights(cls, config: VQConfig | str = "vq-f8-4096") -> VQImageTokenizer:
        """A tokenizer that knows a VQ preset's layout (counts, segments, provenance) but has no weights:
        ``encode`` and ``decode`` raise ``AssetError``."""
        return cls(None, f"<layout of {config if isinstance(config, str) else 'a config'}>",
                   config=VQ_PRESETS[config] if isinstance(config, str) else config)

    @classmethod
    def default(cls) -> VQImageTokenizer:
        """The bundled model (loaded once per call; cheap: ~15 MB)."""
        return cls.from_pretrained(DEFAULT_VQ)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> VQImageTokenizer:
        """Load ``NAME.safetensors`` and the ``NAME.json`` beside it (config + training record)."""
        return cls(*_load(Path(path)))

    @classmethod
    def from_config(cls, config: VQConfig | str = "vq-f8-4096", seed: int = 0) -> VQImageTokenizer:
        """An untrained model of a preset (random weights from ``seed``), e.g. to train or to test shapes."""
        cfg = VQ_PRESETS[config] if isinstance(config, str) else config
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = VQModel(cfg)
            if cfg.quantizer == "vq":  # k-means would initialise the codebook from the first batch: seed it now
                cb = model.quantizer._codebook
                cb.embed.copy_(torch.nn.functional.normalize(torch.randn_like(cb.embed), dim=-1))
                cb.embed_avg.copy_(cb.embed)
                cb.initted.fill_(True)
        return cls(model, f"<untrained {config if isinstance(config, str) else 'config'}>")

    def at_size(self, image_size: int) -> VQImageTokenizer:
        """The same model (shared, not copied) for ``image_size`` x ``image_size`` pictures.

        The encoder and decoder are convolutional, so any multiple of ``downsample`` works: 64 gives 8 x 8 codes
        instead of 32 x 32 (a quick check; quality is measured at the size the model was trained at,
        ``self.record``). ``preprocess``, ``encode``, ``num_tokens`` and ``segment`` all follow the new size; a
        size that is not a positive multiple of ``downsample`` raises ``ConfigError``.
        """
        return VQImageTokenizer(self.model, self.source, self.record, image_size)

    # --- the common face --------------------------------------------------------------------------------
    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @property
    def downsample(self) -> int:
        return self.config.downsample

    @property
    def grid(self) -> tuple[int, int]:
        return self.config.grid

    def num_tokens(self, height: int, width: int) -> int:
        """THE code count for a ``height`` x ``width`` picture (:func:`num_codes`)."""
        return num_codes(self.config, height, width)

    def preprocess(self, img: ImageSource) -> torch.Tensor:
        """uint8 [3, S, S]: shorter side resized to S (256), centred square kept."""
        return self.image.preprocess(img)

    def encode(self, img: ImageSource) -> torch.Tensor:
        """int64 [h, w] codes of one picture."""
        return self.encode_pixels(self.preprocess(img)[None])[0]

    def encode_batch(self, imgs: Sequence[ImageSource]) -> torch.Tensor:
        """int64 [B, h, w] codes of several pictures (one forward pass)."""
        return self.encode_pixels(torch.stack([self.preprocess(i) for i in imgs]))

    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 [B, 3, S, S] -> int64 [B, h, w]."""
        s = self.config.image_size
        if pixels.dtype != torch.uint8 or pixels.dim() != 4 or tuple(pixels.shape[1:]) != (3, s, s):
            raise InputError(f"encode_pixels takes uint8 [B, 3, {s}, {s}], got {pixels.dtype} {tuple(pixels.shape)}")
        return self._model().encode(pixels.float().div(127.5).sub(1.0))

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """int64 [h, w] -> uint8 [3, S, S] (or [B, h, w] -> [B, 3, S, S]): the VQ reconstruction."""
        codes = torch.as_tensor(codes)
        single = codes.dim() == 2
        batch = codes[None] if single else codes
        if batch.dim() != 3 or batch.dtype not in (torch.int64, torch.int32):
            raise InputError(f"codes must be an integer tensor [h, w] or [B, h, w], got {codes.dtype} "
                             f"{tuple(codes.shape)}")
        if batch.numel() and (int(batch.min()) < 0 or int(batch.max()) >= self.codebook_size):
            raise VocabError(f"codes must lie in 0..{self.codebook_size - 1}; got {int(batch.min())}.."
                             f"{int(batch.max())}")
        x = self._model().decode(batch.long())
        out = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return out[0] if single else out

    # --- sequences --------------------------------------------------------------------------------------
    def segment(self, codes: torch.Tensor, vocab: Vocab | None = None, source: str | None = None,
                original_size: tuple[int, int] | None = None) -> Segment:
        """An image-codes segment; ``original_size`` (height, width) lets provenance map cells to the original."""
        name = Path(self.source).name if self.model is not None else ""
        return codes_segment(codes, vocab or default_vocab(), self.config, name, source, original_size)

    def _model(self) -> VQModel:
        if self.model is None:
            raise AssetError(f"{self.source} has no weights; load them with VQImageTokenizer.from_pretrained(path) "
                             f"or .default()")
        return self.model

    def from_segment(self, segment: Segment, vocab: Vocab | None = None) -> torch.Tensor:
        """The int64 [h, w] codes of an image-codes segment (inverse of :meth:`segment`)."""
        if segment.modality != Modality.IMAGE_CODES or not isinstance(segment.meta, CodesMeta):
            raise SequenceError(f"expected an image_codes segment, got {segment.modality.label}")
        h, w = segment.meta.grid
        codes = segment.input_ids[1:-1] - (vocab or default_vocab()).code_offset
        if len(codes) != h * w:
            raise SequenceError(f"an image_codes segment of grid {h}x{w} must hold {h * w} codes, not {len(codes)}")
        return codes.reshape(h, w)

    def codes_from_segment(self, segment: Segment, vocab: Vocab | None = None) -> torch.Tensor:
        """The same as :meth:`from_segment` (its name before the modality protocol)."""
        return self.from_segment(segment, vocab)

    def segment_length(self, height: int, width: int) -> int:
        """Tokens of the image-codes segment of a ``height`` x ``width`` picture: the codes and two markers."""
        return codes_segment_length(self.num_tokens(height, width))

    def provenance_table(self, segment: Segment, vocab: Vocab | None = None) -> dict[str, torch.Tensor]:
        """``box``: each code's cell in ORIGINAL pixels (when the segment knows its picture's ``original_size``)."""
        table = empty_provenance(len(segment))
        m = segment.meta
        if segment.modality != Modality.IMAGE_CODES or not isinstance(m, CodesMeta):
            raise SequenceError(f"expected an image_codes segment, got {segment.modality.label}")
        if (m.image_size, m.downsample) != (self.config.image_size, self.config.downsample):
            raise SequenceError(f"the codes were made at {m.image_size} px / {m.downsample}, this tokenizer works at "
                                f"{self.config.image_size} / {self.config.downsample}; use at_size({m.image_size})")
        if m.original_size is not None:
            plan = plan_image(*m.original_size, picture_config(self.config))
            table["box"][1:-1] = view_boxes(plan.views[0], m.downsample)
        return table


@functools.lru_cache(maxsize=8)
def _layout_for(codebook_size: int, downsample: int, image_size: int) -> VQImageTokenizer:
    preset = next((c for c in VQ_PRESETS.values() if (c.codebook_size, c.downsample) == (codebook_size, downsample)),
                  VQ_PRESETS["vq-f8-4096"])
    return VQImageTokenizer.without_weights(replace(preset, codebook_size=codebook_size, downsample=downsample,
                                                    image_size=image_size))


register_segment_tokenizer(Modality.IMAGE_CODES, lambda seg, vocab: _layout_for(
    seg.meta.codebook_size, seg.meta.downsample, seg.meta.image_size))


def _load(path: Path) -> tuple[VQModel, str, dict | None]:
    """(model, source, training record) of ``NAME.safetensors`` + ``NAME.json``, with typed errors."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    meta_path = path.with_suffix(".json")
    if path.suffix != ".safetensors":
        raise AssetError(f"{path}: VQ weights load from .safetensors files only (never pickles)")
    try:
        meta = json.loads(meta_path.read_text())
        cfg = VQConfig(**meta["config"])
        state = load_file(str(path))
    except FileNotFoundError as e:
        raise AssetError(f"{e.filename} is missing; a VQ model is NAME.safetensors plus NAME.json") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise AssetError(f"{meta_path} is not a VQ config ({e}); export the model with mmtok train-vq") from None
    except (SafetensorError, OSError) as e:
        raise AssetError(f"{path} is not readable safetensors: {e}") from None
    model = VQModel(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise AssetError(f"{path} does not fit its config {meta_path}: {str(e)[:300]}") from None
    return model, str(path), meta.get("training")
