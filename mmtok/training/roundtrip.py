"""The decoder round trip: train a tiny decoder on this CPU to write one picture's VQ codes, then generate them.

:func:`decoder_roundtrip` is four steps, each a function here: :func:`roundtrip_task` (the prompt, the target
codes and the training sequence), :func:`train_decoder` (the training loop), :func:`generate_codes` (greedy
generation through the KV cache) and :func:`generated_image` (the codes and pixels of what was written).
``mmtok.roundtrip`` re-exports :func:`decoder_roundtrip` and :func:`decoder_config`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..core.progress import progress_bar
from ..core.sequence import Segment, TokenSequence, pack, sequential_positions
from ..core.vocab import Modality, Vocab
from ..decoder.model import DecoderConfig, TinyDecoder
from ..errors import LimitError
from ..media.contents import Image
from ..media.imageio import ImageSource
from ..multimodal.tokenizer import MultimodalTokenizer
from ..vq.tokenizer import VQImageTokenizer

__all__ = ["RoundTripTask", "decoder_config", "roundtrip_task", "train_decoder", "generate_codes", "generated_image",
           "decoder_roundtrip"]

WARMUP_STEPS = 20  # the learning rate rises linearly over the first steps (AdamW on one sequence from scratch)
# Training stops when every target leads the best other token by this many logits: the incremental (KV-cache)
# forward pass of generation rounds differently from the full one, so a near tie could flip.
MIN_MARGIN = 0.1


def decoder_config(vocab: Vocab, seq: TokenSequence) -> DecoderConfig:
    """The round trip's decoder (about 1.6 M parameters) for sequences like ``seq`` (it sets the feature widths):
    width 128, 3 layers, 4 query heads sharing 1 key/value head (multi-query), GeGLU 256, 3D M-RoPE, and a
    16-wide factorized table for the 32,768 text pieces (codes and special tokens get full-width embeddings)."""
    return DecoderConfig(vocab=vocab, width=128, layers=3, heads=4, kv_heads=1, mlp_hidden=256, text_embed_dim=16,
                         feature_dims=tuple((k, v.shape[1]) for k, v in seq.features.items()))


@dataclass(frozen=True)
class RoundTripTask:
    """What the decoder learns: ``prompt`` -> the picture's VQ codes, as one training sequence."""

    tokenizer: MultimodalTokenizer  # the ``gemini-like`` layout: text and the picture's ViT patches
    vq: VQImageTokenizer  # makes the target codes and decodes the generated ones
    prompt: TokenSequence  # <bos>, the prompt text, the picture as patches
    target: torch.Tensor  # int64 [h, w]: the picture's VQ codes
    train: TokenSequence  # prompt + the codes block + <eos>


def roundtrip_task(image: ImageSource, prompt: str, image_size: int | None) -> RoundTripTask:
    """The prompt (``prompt`` + ``image`` as patches), the target codes (made at ``image_size``, default: the VQ
    model's) and the training sequence: the prompt, the codes block, ``<eos>``."""
    mt = MultimodalTokenizer("gemini-like")
    vq = mt.vq if image_size is None else mt.vq.at_size(image_size)
    prompt_seq = mt.encode([prompt, Image(image)])
    target = vq.encode(image)
    eos = Segment(Modality.CONTROL, torch.tensor([mt.vocab.eos_id]), sequential_positions(1))
    train = pack(prompt_seq.unpack() + [vq.segment(target, mt.vocab), eos], mt.vocab, prompt_seq.max_length)
    return RoundTripTask(mt, vq, prompt_seq, target, train)


def _measure(model: TinyDecoder, seq: TokenSequence) -> tuple[torch.Tensor, float, float]:
    """Teacher forcing on every target of ``seq`` with the current weights: (loss, accuracy, margin), the margin
    being the smallest lead of a target's logit over the best other logit (negative where a target is missed)."""
    logits, targets = model.target_logits(seq)  # (n, V), (n,)
    loss = torch.nn.functional.cross_entropy(logits, targets)
    with torch.no_grad():
        right = logits.gather(1, targets[:, None])[:, 0]
        best_other = logits.scatter(1, targets[:, None], float("-inf")).amax(-1)
        acc = float((logits.argmax(-1) == targets).double().mean())
    return loss, acc, float((right - best_other).min())


def train_decoder(model: TinyDecoder, seq: TokenSequence, *, max_steps: int, lr: float, confirm: int,
                  deadline: float, progress: bool = True) -> tuple[int, float]:
    """Train ``model`` on ``seq`` alone (AdamW, full batch, a short warm-up to ``lr``).

    Stops once the current weights predict every target right, each by at least :data:`MIN_MARGIN` logits, at
    ``confirm`` measurements in a row (teacher forcing) -- keeping the weights of the last measurement, so greedy
    generation reads exactly the weights that were checked -- after ``max_steps`` updates, or when
    ``time.perf_counter()`` passes ``deadline``. Returns (updates made, accuracy of the last measurement).
    """
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
    streak, step, acc = 0, 0, 0.0
    bar = progress_bar(total=max_steps, desc="decoder round trip: training", disable=not progress)
    model.train()
    while step < max_steps and time.perf_counter() < deadline:
        loss, acc, margin = _measure(model, seq)
        streak = streak + 1 if margin >= MIN_MARGIN else 0
        bar.set_postfix(loss=f"{loss.item():.4f}", accuracy=f"{acc:.4f}")
        if streak >= confirm:
            break  # keep these weights: they are the ones just checked
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / WARMUP_STEPS)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
    bar.close()
    return step, acc


def generate_codes(model: TinyDecoder, task: RoundTripTask) -> tuple[TokenSequence | None, str | None]:
    """Greedy generation after the prompt, room for exactly the training sequence: (sequence, None), or (None, why)
    when the decoder opened an image-codes block it has no room for (an undertrained decoder may open a second)."""
    try:
        return model.generate(task.prompt, max_new_tokens=len(task.train) - len(task.prompt), vq=task.vq.config), None
    except LimitError as e:
        return None, str(e)


def generated_image(out: TokenSequence | None, task: RoundTripTask) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(codes int64 [h, w] of the first image-codes block, its pixels uint8 [3, S, S] decoded by the tokenizer);
    each None when nothing was generated or no block was written."""
    if out is None:
        return None, None
    blocks = [s for s in out.unpack() if s.modality == Modality.IMAGE_CODES]
    codes = task.vq.codes_from_segment(blocks[0], task.tokenizer.vocab) if blocks else None
    decoded = [d for d in task.tokenizer.decode(out) if getattr(d, "as_", None) == "codes"]
    return codes, decoded[0].pixels if decoded else None


def decoder_roundtrip(image: ImageSource, *, prompt: str = "Redraw this picture as image codes:",
                      image_size: int | None = None, config: DecoderConfig | None = None, max_steps: int = 2000,
                      lr: float = 3e-3, seed: int = 0, time_limit: float = 600.0, confirm: int = 3,
                      progress: bool = True) -> dict:
    """Train a tiny decoder on this CPU to map [prompt + the image's patch tokens] -> its VQ codes, then generate.

    The training sequence is ``<bos>``, ``prompt``, the image as ViT patches (the default ``gemini-like`` layout),
    then the image's VQ codes (``<start_of_image_codes>`` ... ``<end_of_image_codes>``) and ``<eos>``. Training
    (AdamW, full batch of that one sequence) stops once every target is predicted right (argmax, teacher forcing, by
    at least ``MIN_MARGIN`` logits) ``confirm`` measurements in a row, keeping the weights last measured, or after
    ``max_steps`` / ``time_limit`` seconds. Then greedy generation from the prompt + image writes the codes back
    through the KV cache, and ``MultimodalTokenizer.decode`` turns them into pixels through the VQ decoder.

    ``image_size`` is the side of the square the VQ codes are made from (default: the VQ model's, 256 -> 32 x 32
    codes). A smaller multiple of the downsampling is the same loop in seconds instead of a minute or two: 64
    gives 8 x 8 codes (:meth:`VQImageTokenizer.at_size`; the patch tokens of the prompt are unchanged).

    Returns a dict: ``codes`` (generated, int64 [h, w], or None if no block was written), ``target`` (the VQ
    codes), ``match`` (codes equal the target exactly), ``image`` (decoded from the generated sequence, uint8
    [3, S, S] or None), ``reconstruction`` (the VQ reconstruction of the target), ``image_match`` (image equals
    reconstruction bit for bit), ``steps``, ``train_accuracy``, ``parameters``, ``train_seconds``,
    ``generate_seconds``, ``seconds`` (total), ``sequence`` (the generated :class:`TokenSequence`, None when
    generation failed) and ``error`` (why it failed, else None).
    """
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    task = roundtrip_task(image, prompt, image_size)
    model = TinyDecoder(config or decoder_config(task.tokenizer.vocab, task.prompt))
    steps, acc = train_decoder(model, task.train, max_steps=max_steps, lr=lr, confirm=confirm,
                               deadline=t0 + time_limit, progress=progress)
    t_train = time.perf_counter() - t0
    out, error = generate_codes(model, task)
    t_gen = time.perf_counter() - t0 - t_train
    codes, img = generated_image(out, task)
    recon = task.vq.decode(task.target)
    return {"codes": codes, "target": task.target, "match": codes is not None and torch.equal(codes, task.target),
            "image": img, "reconstruction": recon, "image_match": img is not None and torch.equal(img, recon),
            "steps": steps, "train_accuracy": acc, "parameters": model.num_parameters(),
            "train_seconds": t_train, "generate_seconds": t_gen, "seconds": time.perf_counter() - t0,
            "sequence": out, "error": error}
