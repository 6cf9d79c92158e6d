"""The demo's Models tab: one picture, clip or sound as each chosen model sees it, side by side.

A thin shell over :mod:`mmtok.multimodal.modelview`: counts are ``ModelProcessor.num_tokens`` (the library's),
pictures come from :mod:`mmtok.multimodal.pictures`; clicking a token cell of a picture shows that token on the
original picture with its sentence (:func:`mmtok.multimodal.explain.describe_token`).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

import mmtok
from mmtok.media.imageio import load_image
from mmtok.multimodal import modelview
from mmtok.multimodal.explain import source_label
from mmtok.multimodal.files import file_content

DEFAULT_MODELS = ["qwen2-vl", "qwen3-vl", "gemma-3", "gemma-3n", "gemma-4", "chameleon", "whisper", "gemini-api"]


class ModelsTab:
    """The handlers; ``state`` carries (views, panels, original pixels) from a run to the clicks on its picture."""

    def __init__(self, mt: mmtok.MultimodalTokenizer, max_media_seconds: float) -> None:
        self.mt, self.max_media_seconds = mt, max_media_seconds

    def run(self, path: str | None, models: list[str]):
        if not path:
            raise gr.Error("add a picture, clip or sound first")
        if not models:
            raise gr.Error("pick at least one model")
        content = file_content(path)
        kind = type(content).__name__.lower()
        if kind not in ("image", "video", "audio"):
            raise gr.Error(f"{source_label(path)} is {kind}; the Models tab takes a picture, clip or sound")
        views = modelview.model_views(content, models)
        table = pd.DataFrame([{"model": v.model, "tokens": v.tokens if v.tokens is not None else "not supported",
                               "with markers": v.with_markers if v.with_markers is not None else "-",
                               "why not": v.reason or "-"} for v in views])
        counts = " · ".join(f"<span id='models-count-{v.model}'>{v.tokens if v.tokens is not None else 'no'}</span> "
                            f"{v.model}" for v in views)
        md = f"**{source_label(path)}** ({kind}) — tokens per model: {counts}"
        if kind == "image":
            original = load_image(path).pixels
            picture, panels = modelview.picture_panels(views, original)
            md += "\n\nClick a token cell of a model's picture to see that token on the original."
            return picture, md, table, (views, panels, original), None, ""  # and no token of an earlier run
        seconds, extra = self._mmtok_lane(kind, path)
        picture = modelview.time_lanes(views, seconds, extra=extra)
        md += "\n\nTop: each model's " + ("frames" if kind == "video" else "token intervals") + " on one time axis."
        if kind == "video":  # and the frames each model takes, with their times
            picture = modelview.stack([picture, modelview.clip_frames(views, path, self.max_media_seconds)])
            md += " Below: the frames each model takes (each token group's first frame) with their times."

        return picture, md, table, (views, [], None), None, ""

    def _mmtok_lane(self, kind: str, path: str) -> tuple[float, list]:
        if kind == "video":
            tokens = self.mt.video.encode(path)
            ends = tokens.ends.tolist() if tokens.ends is not None else tokens.timestamps.tolist()
            return tokens.duration, [("mmtok (this layout)", list(zip(tokens.timestamps.tolist(), ends)))]
        tokens = self.mt.audio.encode(path)
        return tokens.duration, [("mmtok (this layout)", [tuple(s) for s in tokens.spans.tolist()])]

    def click(self, state, evt: gr.SelectData):
        if state is None:
            raise gr.Error("run the Models view first")
        views, panels, original = state
        if original is None:
            raise gr.Error("cells are for pictures; a clip or sound shows its frames or intervals per model")
        x, y = evt.index
        hit = modelview.cell_at(panels, x, y)
        if hit is None:
            raise gr.Error("click a token cell of a model's picture (one with a grid)")
        k, cell = hit
        picture, sentence = modelview.token_on_original(views[k], cell, original)
        return picture, f"**{views[k].model}**, token cell {cell}: {sentence}"


def add_models_tab(mt: mmtok.MultimodalTokenizer, guard, media: list[str], example: Path,
                   max_media_seconds: float) -> None:
    """The tab's components and events, inside the caller's ``gr.Blocks``; ``guard`` wraps each handler (the
    demo's time limit and error messages)."""
    tab = ModelsTab(mt, max_media_seconds)
    with gr.Tab("Models"):
        m_in = gr.File(value=str(example), file_types=media, label="picture, clip or sound", elem_id="models-file")
        m_models = gr.CheckboxGroup(mmtok.list_models(), value=DEFAULT_MODELS, label="models",
                                    elem_id="models-choice")
        m_go = gr.Button("Show how each model sees it", variant="primary", elem_id="models-go")
        m_md = gr.Markdown(elem_id="models-summary")
        m_pic = gr.Image(label="each model's view (click a token cell of a picture)", type="pil", show_label=False,
                         elem_id="models-picture", interactive=False)  # no label drawn over the first caption
        m_table = gr.Dataframe(label="tokens per model", elem_id="models-table")
        with gr.Row():
            m_prov = gr.Image(label="that token on the original picture", type="pil", elem_id="models-prov-picture")
            m_prov_md = gr.Markdown(elem_id="models-prov")
        state = gr.State(None)
        m_go.click(guard(tab.run), [m_in, m_models], [m_pic, m_md, m_table, state, m_prov, m_prov_md])
        m_pic.select(guard(tab.click), [state], [m_prov, m_prov_md])
