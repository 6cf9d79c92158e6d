"""Round-trip reports: what survives a trip through a tokenizer, measured with well-kept metrics (torchmetrics)."""

from __future__ import annotations

import torch

from .media.imageio import ImageSource

__all__ = ["image_report", "decoder_roundtrip", "decoder_config"]


@torch.no_grad()
def image_report(img: ImageSource, tokenizer=None) -> dict:
    """Encode ``img`` to VQ codes and back.

    Returns ``psnr`` (dB) and ``ssim`` of the reconstruction against the preprocessed picture (torchmetrics,
    data range 1 on 8-bit pixels), ``codes`` int64 [h, w] (the code map, for pictures), ``codes_used`` and
    ``usage`` (distinct codes in this image / codebook size), ``reencode_agreement`` (fraction of codes that
    ``encode(decode(codes))`` gives back), and the ``original`` and ``reconstruction`` uint8 [3, H, W].
    """
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    from .vq.tokenizer import VQImageTokenizer

    tok = tokenizer or VQImageTokenizer.default()
    original = tok.preprocess(img)
    codes = tok.encode_pixels(original[None])[0]
    recon = tok.decode(codes)
    again = tok.encode_pixels(recon[None])[0]
    a, b = recon[None].float() / 255.0, original[None].float() / 255.0
    used = int(codes.unique().numel())
    return {"psnr": float(peak_signal_noise_ratio(a, b, data_range=1.0)),
            "ssim": float(structural_similarity_index_measure(a, b, data_range=1.0)),
            "codes": codes, "codes_used": used, "usage": used / tok.codebook_size,
            "reencode_agreement": float((again == codes).double().mean()),
            "original": original, "reconstruction": recon}


def decoder_config(vocab, seq):
    """The round trip's decoder (about 1.6 M parameters) for sequences like ``seq`` (it sets the feature widths):
    width 128, 3 layers, 4 query heads sharing 1 key/value head (multi-query), GeGLU 256, 3D M-RoPE, and a
    16-wide factorized table for the 32,768 text pieces (codes and special tokens get full-width embeddings)."""
    from .decoder.model import DecoderConfig

    return DecoderConfig(vocab=vocab, width=128, layers=3, heads=4, kv_heads=1, mlp_hidden=256, text_embed_dim=16,
                         feature_dims=tuple((k, v.shape[1]) for k, v in seq.features.items()))


def decoder_roundtrip(image: ImageSource, *, prompt: str = "Redraw this picture as image codes:",
                      image_size: int | None = None, config=None, max_steps: int = 2000, lr: float = 3e-3,
                      seed: int = 0, time_limit: float = 600.0, confirm: int = 3, progress: bool = True) -> dict:
    """Train a tiny decoder on this CPU to map [prompt + the image's patch tokens] -> its VQ codes, then generate.

    The training sequence is ``<bos>``, ``prompt``, the image as ViT patches (the default ``gemini-like`` layout),
    then the image's VQ codes (``<start_of_image_codes>`` ... ``<end_of_image_codes>``) and ``<eos>``. Training
    (AdamW, full batch of that one sequence) stops once every target is predicted right (argmax, teacher forcing)
    ``confirm`` steps in a row, or after ``max_steps`` / ``time_limit`` seconds. Then greedy generation from the
    prompt + image writes the codes back through the KV cache, and ``MultimodalTokenizer.decode`` turns them into
    pixels through the VQ decoder.

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
    import time

    from tqdm import tqdm

    from .multimodal.contents import Image
    from .errors import LimitError
    from .decoder.model import TinyDecoder
    from .multimodal.tokenizer import MultimodalTokenizer
    from .core.sequence import Segment, pack, sequential_positions
    from .core.vocab import Modality

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    mt = MultimodalTokenizer("gemini-like")
    vq = mt.vq if image_size is None else mt.vq.at_size(image_size)
    prompt_seq = mt.encode([prompt, Image(image)])
    target = vq.encode(image)
    eos = Segment(Modality.CONTROL, torch.tensor([mt.vocab.eos_id]), sequential_positions(1))
    train_seq = pack(prompt_seq.unpack() + [vq.segment(target, mt.vocab), eos], mt.vocab, prompt_seq.max_length)
    model = TinyDecoder(config or decoder_config(mt.vocab, prompt_seq))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
    streak, step, acc = 0, 0, 0.0
    bar = tqdm(total=max_steps, desc="decoder round trip: training", disable=not progress, dynamic_ncols=True)
    model.train()
    while step < max_steps and streak < confirm and time.perf_counter() - t0 < time_limit:
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 20)  # short warm-up
        logits, targets = model.target_logits(train_seq)
        loss = torch.nn.functional.cross_entropy(logits, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        acc = float((logits.detach().argmax(-1) == targets).double().mean())
        streak = streak + 1 if acc == 1.0 else 0
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", accuracy=f"{acc:.4f}")
    bar.close()
    t_train = time.perf_counter() - t0
    error, codes, img, out = None, None, None, None
    try:
        out = model.generate(prompt_seq, max_new_tokens=len(train_seq) - len(prompt_seq), vq=vq.config)
    except LimitError as e:  # an undertrained decoder may open a second block it has no room for
        error = str(e)
    t_gen = time.perf_counter() - t0 - t_train
    if out is not None:
        blocks = [s for s in out.unpack() if s.modality == Modality.IMAGE_CODES]
        codes = vq.codes_from_segment(blocks[0], mt.vocab) if blocks else None
        decoded = [d for d in mt.decode(out) if getattr(d, "as_", None) == "codes"]
        img = decoded[0].pixels if decoded else None
    recon = vq.decode(target)
    return {"codes": codes, "target": target, "match": codes is not None and torch.equal(codes, target),
            "image": img, "reconstruction": recon, "image_match": img is not None and torch.equal(img, recon),
            "steps": step, "train_accuracy": acc, "parameters": model.num_parameters(),
            "train_seconds": t_train, "generate_seconds": t_gen, "seconds": time.perf_counter() - t0,
            "sequence": out, "error": error}
