"""The tiny decoder: forward throughput on a 4k-token interleaved sequence, generation, and the round trip.

Run: .venv/bin/python benchmarks/bench_decoder.py [--skip-roundtrip]
Sequence: real bundled media through the default ``gemini-like`` layout, repeated until ~4,096 tokens: text,
images (196 patch tokens each), an audio clip (usm-128 mel stacks) and a VQ image-codes block (1,024 codes).
Model: the round trip's decoder config (width 128, 3 layers, 4 query heads, 1 key/value head).
Same run, median of 5: forward tokens/s of that model (multi-query) against the same model with multi-head
attention (kv_heads = heads, the baseline); generation of 256 tokens with the KV cache against full
recomputation of the whole sequence at every step (the baseline), both greedy and restricted to text. Then ``decoder_roundtrip`` on
``assets/images/chelsea.png`` (256x256 VQ codes, default preset): its wall time (target <= 120 s on 2 cores),
training steps and whether the generated codes match; then the same with one torch thread, and on 8x8 codes
(``image_size=64``) with one thread. (On a shared 2-core machine two spinning OpenMP threads can be several times
slower than one for matrices this small.)
"""

from __future__ import annotations

import argparse
import os
import platform
from dataclasses import replace

import torch

import mmtok
from bench_vq import median_seconds  # benchmarks/ is on the path when a benchmark runs as a script
from harness import cpu_name
from mmtok.roundtrip import decoder_config


def interleaved(mt: mmtok.MultimodalTokenizer, target: int = 4096) -> mmtok.TokenSequence:
    pieces = ["A photo of a cat:", mmtok.Image("assets/images/chelsea.png"), "and one of coffee:",
              mmtok.Image("assets/images/coffee.png"), "What does this say?", mmtok.Audio("assets/audio/speech_en.wav"),
              "Now draw the astronaut:", mmtok.Image("assets/images/astronaut.png", as_="codes")]
    contents: list = []
    while not contents or len(mt.encode(contents)) < target:
        contents += pieces
    return mt.encode(contents)


def no_cache_generate(model, seq: mmtok.TokenSequence, n: int) -> None:
    """The baseline: recompute the whole sequence for every new token (greedy, text only, 1D-equal positions)."""
    b = model.batch(seq)
    ids, pos, feats = b["input_ids"], b["positions_3d"], b["features"]
    top = int(pos.max()) + 1
    with torch.no_grad():
        for _ in range(n):
            x = model.embed_inputs(ids, feats)
            h, _ = model.hidden(x, pos)
            logits = model.logits(h[0, -1])
            tok = int(logits[:model.config.vocab.text_size].argmax())
            ids = torch.cat([ids, torch.tensor([[tok]])], 1)
            pos = torch.cat([pos, torch.full((1, 3, 1), top)], 2)
            top += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-roundtrip", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    mt = mmtok.MultimodalTokenizer("gemini-like")
    seq = interleaved(mt)
    cfg = decoder_config(mt.vocab, seq)
    mqa = mmtok.TinyDecoder(cfg).eval()
    mha = mmtok.TinyDecoder(replace(cfg, kv_heads=cfg.heads)).eval()
    counts = {m.label: int((seq.modality == m).sum()) for m in mmtok.Modality if (seq.modality == m).any()}
    print(f"machine: {cpu_name()}, {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
          f"threads, torch {torch.__version__}; load average {os.getloadavg()[0]:.1f}")
    print(f"sequence: {len(seq)} tokens {counts}; model: {mqa.num_parameters():,} parameters (MQA), "
          f"{mha.num_parameters():,} (MHA)")
    with torch.no_grad():
        t_mqa = median_seconds(lambda: mqa(seq), runs=5)
        t_mha = median_seconds(lambda: mha(seq), runs=5)
    prompt = mmtok.pack(seq.unpack()[:8], mt.vocab)
    n = 256
    text_only = torch.full((mt.vocab.size,), float("-inf"))
    text_only[:mt.vocab.text_size] = 0.0  # the untrained model writes text in both runs (same work)
    plain = mqa.logits
    mqa.logits = lambda h: plain(h) + text_only
    t_cache = median_seconds(lambda: mqa.generate(prompt, n, stop_at_eos=False))
    t_full = median_seconds(lambda: no_cache_generate(mqa, prompt, n))
    print("| measurement | value |\n|---|---|")
    print(f"| forward, multi-query (kv_heads=1), tokens/s | {len(seq) / t_mqa:,.0f} |")
    print(f"| forward, multi-head baseline (kv_heads={cfg.heads}), tokens/s | {len(seq) / t_mha:,.0f} |")
    print(f"| generation of {n} tokens after a {len(prompt)}-token prompt, KV cache, tokens/s | {n / t_cache:,.1f} |")
    print(f"| generation baseline: full recomputation per token, tokens/s | {n / t_full:,.1f} |")
    print(f"ratios: MQA/MHA forward {t_mha / t_mqa:.2f}x, cache/recompute generation {t_full / t_cache:.1f}x")
    if not args.skip_roundtrip:
        threads = torch.get_num_threads()
        for n, size in ((threads, None), (1, None), (1, 64)):  # one thread: see the note in the module docstring
            if n == 1 and threads == 1 and size is None:
                continue
            torch.set_num_threads(n)
            r = mmtok.roundtrip.decoder_roundtrip("assets/images/chelsea.png", image_size=size, progress=False)
            print(f"round trip (chelsea.png, {r['target'].shape[0]}x{r['target'].shape[1]} codes, {n} torch "
                  f"thread{'s' * (n > 1)}): {r['seconds']:.1f} s (train {r['train_seconds']:.1f} s, {r['steps']} "
                  f"steps; generate {r['generate_seconds']:.1f} s), {r['parameters']:,} parameters, codes match: "
                  f"{r['match']}, image match: {r['image_match']}; load average {os.getloadavg()[0]:.1f}")
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
