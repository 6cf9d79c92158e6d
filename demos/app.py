"""The mmtok Gradio demo: every modality, pictures of every step, round trips and budgets.

Run: ``mmtok demo [--port 7860] [--host 127.0.0.1] [--share]`` (or ``python demos/app.py``). A thin shell over the
library: each handler calls mmtok and draws with :mod:`mmtok.multimodal.pictures`; typed mmtok errors become messages in the
page. Limits (:class:`DemoLimits`, flags below) bound upload size, media duration, request time and concurrency.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextvars
import functools
import sys
import tempfile
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pandas as pd
import torch

import mmtok
from mmtok.audio import SAMPLE_RATE
from mmtok.media.audioio import stream_audio
from mmtok.media.imageio import load_image
from mmtok.multimodal import notebook, pictures
from mmtok.multimodal.explain import describe_token, source_label, token_picture
from mmtok.multimodal.files import file_content

sys.path.insert(0, str(Path(__file__).resolve().parent))  # demos/ as a folder of modules (mmtok demo runs app.py)
from models_tab import add_models_tab  # noqa: E402
from served import DemoLimits, PictureFiles  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
STRIP = 960  # px: the Compose timeline strip's width (clicks map back with pictures.strip_token)
EXAMPLES = {"image": ASSETS / "images" / "chelsea.png", "codes": ASSETS / "images" / "coffee.png",
            "video": ASSETS / "video" / "cityCC0.mpg", "audio": ASSETS / "audio" / "speech_en.wav"}


def token_slider(seq: mmtok.TokenSequence, k: int, token: int) -> gr.Slider:
    """The token slider with the range of span ``k`` (its tokens 0 .. length-1), set to ``token``."""
    span = seq.spans[k]
    n = span.length
    return gr.Slider(0, max(n - 1, 1), token, step=1, interactive=n > 1,  # Gradio needs minimum < maximum
                     label=f"token within span {k} ({span.modality.label}, {n:,} token{'s' * (n != 1)}: 0 to {n - 1})")


class Demo:
    """The tokenizers (built once) and the handlers."""

    def __init__(self, limits: DemoLimits) -> None:
        self.limits = limits
        base = mmtok.LAYOUTS["gemini-like"]
        layout = replace(base, name="demo", video=replace(base.video, max_duration=limits.max_media_seconds),
                         audio=replace(base.audio, max_duration=limits.max_media_seconds))
        self.mt = mmtok.MultimodalTokenizer(layout)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=limits.concurrency)
        self.files = PictureFiles()  # pictures go out as files written once (see demos/served.py)

    def guarded(self, fn):
        """Run ``fn`` under the time limit; mmtok errors and surprises become one readable message.

        The limit counts from when ``fn`` starts. A request that runs out of time is answered with a message at
        once, but its thread cannot be stopped: it holds its worker until it ends (bounded by the media limits;
        the decoder round trip stops training at 80% of the limit), and the next request waits for that worker
        without being charged for the wait. ``fn`` runs in a copy of the caller's context variables: Gradio
        finds the request's progress bar (``gr.Progress(track_tqdm=True)``) through them. Pictures in the result
        go out as files (:class:`served.PictureFiles`).
        """

        @functools.wraps(fn)
        def run(*args):
            context, started = contextvars.copy_context(), threading.Event()

            def work():
                started.set()
                return context.run(fn, *args)

            future = self.pool.submit(work)
            started.wait()  # a worker may still be finishing a request that ran out of time
            try:
                return self.files.outputs(future.result(timeout=self.limits.max_request_seconds))
            except concurrent.futures.TimeoutError:
                raise gr.Error(f"this request took longer than {self.limits.max_request_seconds:.0f} s; try a "
                               f"shorter or smaller input") from None
            except mmtok.MmtokError as e:
                raise gr.Error(f"{type(e).__name__}: {e}") from None
            except gr.Error:
                raise
            except Exception as e:  # never a traceback in the page
                raise gr.Error(f"unexpected {type(e).__name__}: {e}") from None

        return run

    # --- compose ----------------------------------------------------------------------------------------
    def compose(self, text: str, files: list[str] | None, text_after: str, codes: bool):
        contents: list = [text] if text else []
        contents += [file_content(f, as_codes=codes) for f in files or []]
        contents += [text_after] if text_after else []
        if not contents:
            raise gr.Error("add some text or a file first")
        seq = self.mt.encode(contents)
        counts = {m.label: int((seq.modality == m).sum()) for m in mmtok.Modality if (seq.modality == m).any()}
        used = len(seq) / seq.max_length
        summary = (f"**<span id='compose-count'>{len(seq)}</span> tokens** — {used:.1%} of the "
                   f"{seq.max_length:,}-token context · "
                   + " · ".join(f"{k} {v:,}" for k, v in counts.items()))
        rows = [[k, s.modality.label, s.length, s.num_features + s.sound_features, source_label(s.meta.source)]
                for k, s in enumerate(seq.spans)]
        out = Path(tempfile.mkdtemp(prefix="mmtok-manifest-"))
        seq.save(out / "sequence")
        zpath = out / "sequence.zip"
        with zipfile.ZipFile(zpath, "w") as z:
            for p in sorted((out / "sequence").iterdir()):
                z.write(p, f"sequence/{p.name}")
        table = pd.DataFrame(rows, columns=["span", "modality", "tokens", "feature rows", "source"])
        texts = "<br>".join(notebook.text_html(seq, k, self.mt.text) for k, s in enumerate(seq.spans)
                            if s.modality.label == "text")
        return (pictures.timeline_strip(seq, STRIP), pictures.timeline(seq), texts, summary, table, str(zpath), seq, 0,
                token_slider(seq, 0, 0))

    def provenance(self, seq: mmtok.TokenSequence | None, span_index: int, token: int):
        if seq is None:
            raise gr.Error("tokenize something first")
        k, token = int(span_index), int(token)
        if not 0 <= k < len(seq.spans):
            raise gr.Error(f"span {k} is not in this sequence of {len(seq.spans)} spans: click a span in the timeline")
        span = seq.spans[k]
        if not 0 <= token < span.length:
            raise gr.Error(f"token {token} is outside span {k} ({span.modality.label}, {span.length:,} tokens): "
                           f"pick a token from 0 to {span.length - 1}")
        table = seq.provenance_table(self.mt.text)
        i = span.start + token
        info = {name: col[i].tolist() for name, col in table.items()}
        sentence = describe_token(seq, i, self.mt.text)
        rows = slice(span.start, span.end)
        label, chars = span.modality.label, None
        picture = token_picture(seq, i, self.mt.text, self.limits.max_media_seconds)  # None for text and markers
        md = f"span {k} · **{label}** · token {token} of {span.length} (sequence index {i})"
        if info["frame"] >= 0:
            md += f" · frame {info['frame']} (clip frame {info['frame_index']}) at {info['time'][0]:.2f} s"
        elif info["time"][0] == info["time"][0]:
            md += f" · {info['time'][0]:.2f}–{info['time'][1]:.2f} s"
        if info["box"][0] == info["box"][0]:
            md += " · box ({:.0f}, {:.0f})–({:.0f}, {:.0f}) px".format(*info["box"])
        if label == "text":
            text = self.mt.text.decode(seq.input_ids[rows])
            a, b = table["chars"][i].tolist()
            chars = [(p, tag) for p, tag in ((text[:a], None), (text[a:b], "this token"), (text[b:], None)) if p]
            md += f" · piece `{self.mt.text.decode(seq.input_ids[i:i + 1])!r}` · characters {a}–{b} of the text"
        md += f"\n\n{sentence}"
        return (gr.Image(self.files.path(picture), visible=picture is not None), md,
                gr.HighlightedText(chars, visible=chars is not None))

    def _wave(self, src: str) -> torch.Tensor:
        """The 16 kHz mono waveform float32 [S] the audio tokens were computed from."""
        return torch.cat([torch.from_numpy(c) for c in stream_audio(
            src, target_rate=SAMPLE_RATE, sample_rate=None, max_duration=self.limits.max_media_seconds,
            chunk_seconds=30.0)])

    # --- one modality at a time -------------------------------------------------------------------------
    def image(self, path: str, resize: str, aspect: str):
        path = path or str(EXAMPLES["image"])
        cfg = mmtok.ImageConfig(resize=resize, aspect=aspect) if resize == "fixed" else mmtok.ImageConfig(resize=resize)
        tok = mmtok.ImageTokenizer(cfg)
        tokens = tok.encode(path)
        original = load_image(path).pixels
        n = len(tokens.patches)
        assert n == tok.num_tokens(*original.shape[1:])
        md = (f"<span id='image-count'>{n}</span> patch tokens · original {original.shape[2]}x{original.shape[1]} · "
              f"grid {tokens.grid[0]}x{tokens.grid[1]} per view")
        return pictures.patch_grid(original, tok.patch_boxes(tokens)), md

    def video(self, path: str):
        path = path or str(EXAMPLES["video"])
        tokens = self.mt.video.encode(path)
        frames = self.mt.video.decode(tokens)
        per = [len(f.patches) for f in tokens.frames]
        ts = tokens.timestamps.tolist()
        table = pd.DataFrame({"frame": range(len(ts)), "time (s)": [round(t, 3) for t in ts],
                              "clip frame": tokens.frame_indices.tolist(), "tokens": per})
        md = (f"<span id='video-count'>{sum(per)}</span> patch tokens · {len(ts)} frames of a "
              f"{tokens.duration:.2f} s clip ({tokens.num_clip_frames} frames, {tokens.frames_decoded} decoded)")
        return pictures.frame_strip(frames, ts, per), table, md

    def audio(self, path: str):
        path = path or str(EXAMPLES["audio"])
        tokens = self.mt.audio.encode(path)
        report = self.mt.audio.roundtrip(tokens)
        original = self._wave(path)
        n = len(tokens.tokens)
        md = (f"<span id='audio-count'>{n}</span> tokens · {tokens.duration:.2f} s · preset {tokens.preset} "
              f"({tokens.stack} frames per token) · Griffin-Lim round trip: mel distance "
              f"{report['mel_mean_abs_loud']:.3f} on the louder half ({report['units']})")
        mel = mmtok.audio.PRESETS[tokens.preset]
        view = pictures.audio_view(original, SAMPLE_RATE, tokens.features, tokens.stack, f_min=mel.f_min,
                                   f_max=mel.f_max, mel_scale=mel.mel_scale)
        return view, md, (SAMPLE_RATE, original.numpy()), (SAMPLE_RATE, report["waveform"].numpy())

    def codes(self, path: str):
        path = path or str(EXAMPLES["codes"])
        r = mmtok.roundtrip.image_report(path, self.mt.vq)
        counts = torch.bincount(r["codes"].reshape(-1), minlength=self.mt.vq.codebook_size)
        used = counts[counts > 0].sort(descending=True).values
        hist = pd.DataFrame({"rank": range(len(used)), "uses": used.tolist()})
        md = (f"<span id='codes-count'>{r['codes'].numel()}</span> codes "
              f"({r['codes'].shape[0]}x{r['codes'].shape[1]}) · "
              f"PSNR {r['psnr']:.2f} dB · SSIM {r['ssim']:.3f} · {r['codes_used']} distinct codes of "
              f"{self.mt.vq.codebook_size} · re-encode agreement {r['reencode_agreement']:.1%}")
        return (pictures.code_map(r["codes"]), pictures.to_pil(r["original"]), pictures.to_pil(r["reconstruction"]),
                md, hist)

    def budget(self, text: str, files: list[str] | None):
        contents = ([text] if text else []) + [file_content(f) for f in files or []]
        if not contents:
            raise gr.Error("add some text or a file first")
        rows = mmtok.budget(contents, tokenizer=self.mt)
        table = pd.DataFrame([{**r, "unsupported": ", ".join(r["unsupported"]) or "-"} for r in rows])
        return table, pictures.budget_chart(rows)

    def decoder(self, path: str, progress=gr.Progress(track_tqdm=True)):
        path = path or str(EXAMPLES["image"])
        progress(0, desc="decoder round trip: loading the tokenizers")  # training's tqdm bar takes over
        r = mmtok.roundtrip.decoder_roundtrip(path, time_limit=self.limits.max_request_seconds * 0.8)
        ok = r["codes"] is not None and r["codes"].shape == r["target"].shape
        same = int((r["codes"] == r["target"]).sum()) if ok else 0
        md = (f"codes match: **{r['match']}** (<span id='decoder-same'>{same}</span> of "
              f"<span id='decoder-codes'>{r['target'].numel()}</span> generated codes equal the VQ codes) · "
              f"image equals the VQ reconstruction: **{r['image_match']}** · "
              f"<span id='decoder-steps'>{r['steps']}</span> training steps, "
              f"<span id='decoder-parameters'>{r['parameters']:,}</span> parameters · {r['seconds']:.1f} s"
              + (f" · {r['error']}" if r["error"] else ""))
        img = pictures.to_pil(r["image"]) if r["image"] is not None else None
        return img, pictures.to_pil(r["reconstruction"]), md


def build(limits: DemoLimits = DemoLimits()) -> gr.Blocks:
    d = Demo(limits)
    g = d.guarded
    media = [".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp4", ".webm", ".mkv", ".mpg", ".mov", ".wav", ".mp3",
             ".flac", ".ogg", ".m4a", ".txt"]
    with gr.Blocks(title="mmtok") as demo:
        gr.Markdown("# mmtok — multimodal tokenization playground\nText, images, video and audio in one "
                    "interleaved token sequence, and images written back as VQ codes.")
        with gr.Tab("Compose"):
            with gr.Row():
                text = gr.Textbox("Describe this picture and this sound:", label="text before")
                after = gr.Textbox("", label="text after")
            files = gr.File(value=[str(EXAMPLES["image"]), str(EXAMPLES["audio"])], file_count="multiple",
                            file_types=media, label="files (image, video, audio, text)", elem_id="compose-files")
            as_codes = gr.Checkbox(False, label="images as VQ codes")
            go = gr.Button("Tokenize", variant="primary", elem_id="compose-go")
            summary = gr.Markdown(elem_id="compose-summary")
            strip = gr.Image(label="token timeline: width per token, coloured by modality (click a token)", type="pil",
                             interactive=False, elem_id="compose-strip")
            timeline = gr.HighlightedText(label="spans (click one)", color_map=pictures.MODALITY_COLORS,
                                          combine_adjacent=False, show_legend=True)
            texts = gr.HTML(label="text tokens", elem_id="compose-text")
            spans = gr.Dataframe(label="spans")
            manifest = gr.File(label="manifest (JSON + safetensors)")
            seq_state, span_state = gr.State(None), gr.State(0)
            token = gr.Slider(0, 1, 0, step=1, interactive=False, elem_id="compose-token",
                              label="token within the span (tokenize, then click a span)")
            with gr.Row():
                prov_pic = gr.Image(label="provenance", type="pil", elem_id="prov-picture")
                with gr.Column():
                    prov_md = gr.Markdown(elem_id="prov-summary")
                    prov_text = gr.HighlightedText(label="the token's characters in its text", visible=False,
                                                   show_inline_category=False,
                                                   color_map={"this token": pictures.MODALITY_COLORS["text"]},
                                                   elem_id="prov-text")
            go.click(g(d.compose), [text, files, after, as_codes],
                     [strip, timeline, texts, summary, spans, manifest, seq_state, span_state, token])

            def pick(seq, evt: gr.SelectData):
                if seq is None:
                    raise gr.Error("tokenize something first")
                k = evt.index if isinstance(evt.index, int) else evt.index[0]
                return k, token_slider(seq, k, 1 if seq.spans[k].num_features else 0)  # media: its first patch

            def pick_token(seq, evt: gr.SelectData):
                if seq is None:
                    raise gr.Error("tokenize something first")
                i = pictures.strip_token(seq, evt.index[0], STRIP)
                k = seq.span_index(i)
                return k, token_slider(seq, k, i - seq.spans[k].start)

            prov = [prov_pic, prov_md, prov_text]
            timeline.select(pick, [seq_state], [span_state, token]).then(
                g(d.provenance), [seq_state, span_state, token], prov)
            strip.select(pick_token, [seq_state], [span_state, token]).then(
                g(d.provenance), [seq_state, span_state, token], prov)
            token.release(g(d.provenance), [seq_state, span_state, token], prov)
        with gr.Tab("Image"):
            img_in = gr.File(value=str(EXAMPLES["image"]), file_types=media, label="image", elem_id="image-file")
            with gr.Row():
                resize = gr.Radio(["fixed", "dynamic", "tiles"], value="fixed", label="resize policy")
                aspect = gr.Radio(["crop", "pad", "squash"], value="crop", label="aspect (fixed)")
            img_md = gr.Markdown(elem_id="image-summary")
            img_pic = gr.Image(label="patch grid on the original", type="pil")
            for ev in (img_in.change, resize.change, aspect.change):
                ev(g(d.image), [img_in, resize, aspect], [img_pic, img_md])
        with gr.Tab("Video"):
            vid_in = gr.File(value=str(EXAMPLES["video"]), file_types=media, label="video", elem_id="video-file")
            vid_go = gr.Button("Sample frames", elem_id="video-go")
            vid_md = gr.Markdown(elem_id="video-summary")
            vid_pic = gr.Image(label="16 sampled frames", type="pil")
            vid_table = gr.Dataframe(label="frames")
            vid_go.click(g(d.video), [vid_in], [vid_pic, vid_table, vid_md])
        with gr.Tab("Audio"):
            aud_in = gr.File(value=str(EXAMPLES["audio"]), file_types=media, label="audio", elem_id="audio-file")
            aud_go = gr.Button("Tokenize audio", elem_id="audio-go")
            aud_md = gr.Markdown(elem_id="audio-summary")
            aud_pic = gr.Image(label="waveform and log-mel features on one time axis (ticks: token boundaries)",
                               type="pil", elem_id="audio-view")
            with gr.Row():
                orig = gr.Audio(label="original (16 kHz mono)")
                back = gr.Audio(label="Griffin-Lim round trip")
            aud_go.click(g(d.audio), [aud_in], [aud_pic, aud_md, orig, back])
        with gr.Tab("Codes"):
            code_in = gr.File(value=str(EXAMPLES["codes"]), file_types=media, label="image", elem_id="codes-file")
            code_go = gr.Button("Encode to VQ codes", elem_id="codes-go")
            code_md = gr.Markdown(elem_id="codes-summary")
            with gr.Row():
                cmap, c_orig, c_rec = (gr.Image(label=x, type="pil") for x in
                                       ("code map", "original (256x256)", "reconstruction"))
            c_hist = gr.BarPlot(x="rank", y="uses", label="codebook usage (codes by rank)")
            code_go.click(g(d.codes), [code_in], [cmap, c_orig, c_rec, code_md, c_hist])
        add_models_tab(d.mt, g, media, EXAMPLES["image"], limits.max_media_seconds)
        with gr.Tab("Budget"):
            b_text = gr.Textbox("How many tokens is this?", label="text")
            b_files = gr.File(value=[str(EXAMPLES["image"]), str(EXAMPLES["video"]), str(EXAMPLES["audio"])],
                              file_count="multiple", file_types=media, label="files")
            b_go = gr.Button("Compare models", elem_id="budget-go")
            b_table = gr.Dataframe(label="tokens per model", elem_id="budget-table")
            b_plot = gr.Image(label="tokens per model, stacked by modality (unsupported pieces named)", type="pil",
                              elem_id="budget-chart")
            b_go.click(g(d.budget), [b_text, b_files], [b_table, b_plot])
        with gr.Tab("Decoder"):
            gr.Markdown("Trains a 1.6 M-parameter decoder on this CPU to write the picture's VQ codes from its patch "
                        "tokens, then generates them back (about 1.5 minutes).")
            dec_in = gr.File(value=str(EXAMPLES["image"]), file_types=media, label="image")
            dec_go = gr.Button("Run the round trip", elem_id="decoder-go")
            dec_md = gr.Markdown(elem_id="decoder-summary")
            with gr.Row():
                dec_img, dec_rec = (gr.Image(label=x, type="pil", format="png", elem_id=f"decoder-{x.split()[-1]}")
                                    for x in ("regenerated", "VQ reconstruction"))
            dec_go.click(g(d.decoder), [dec_in], [dec_img, dec_rec, dec_md])
        demo.load(g(d.image), [img_in, resize, aspect], [img_pic, img_md])
    demo.queue(default_concurrency_limit=limits.concurrency, max_size=limits.queue_size)
    return demo


def serve(limits: DemoLimits, host: str, port: int, *, share: bool = False, block: bool = True) -> gr.Blocks:
    """Build the demo and serve it on ``host:port`` with the upload limit; ``block=False`` returns once it serves
    (the load test's in-process server)."""
    demo = build(limits)
    demo.launch(server_name=host, server_port=port, share=share, max_file_size=f"{limits.max_upload_mb}mb",
                allowed_paths=[str(ASSETS)], prevent_thread_lock=not block)
    return demo


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mmtok demo", description="Run the mmtok Gradio demo.",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine only)")
    ap.add_argument("--port", type=int, default=7860, help="port to serve the page on")
    ap.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    d = DemoLimits()
    ap.add_argument("--max-upload-mb", type=int, default=d.max_upload_mb,
                    help="largest upload per file, in MB (Gradio refuses bigger files before mmtok sees them)")
    ap.add_argument("--max-media-seconds", type=float, default=d.max_media_seconds,
                    help="longest clip or sound accepted, in seconds (longer: a message, never a silent cut)")
    ap.add_argument("--max-request-seconds", type=float, default=d.max_request_seconds,
                    help="a request still running after this many seconds answers with a time-out message")
    ap.add_argument("--concurrency", type=int, default=d.concurrency, help="requests worked on at once")
    ap.add_argument("--queue-size", type=int, default=d.queue_size,
                    help="requests that may wait beyond those; more get a 'busy' message")
    a = ap.parse_args(argv)
    limits = DemoLimits(a.max_upload_mb, a.max_media_seconds, a.max_request_seconds, a.concurrency, a.queue_size)
    serve(limits, a.host, a.port, share=a.share)
    return 0


if __name__ == "__main__":
    sys.exit(main())
