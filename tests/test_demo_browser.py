"""The demo in a real browser: Debian's Chromium driven by Playwright (``executable_path``; never ``playwright
install``). The demo runs as a real process on a free loopback port; every tab's example is loaded and the token
counts on the page are compared with the library's; a bad upload must show the library's typed error. Screenshots go to
``artifacts/`` (ignored by git). Skipped without chromium, except under ``make test`` (which sets
``MMTOK_REQUIRE_BROWSER=1``) and CI, where a missing browser fails."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

import mmtok
from demo_server import ART, ROOT, demo_server
from mmtok.multimodal.explain import describe_token
from mmtok.multimodal.files import file_content

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = bool(os.environ.get("MMTOK_REQUIRE_BROWSER") or os.environ.get("CI"))
pytestmark = pytest.mark.skipif(CHROMIUM is None and not REQUIRED,
                                reason="Debian's chromium is not installed (make test installs it)")
IMG, AUD = ROOT / "assets/images/chelsea.png", ROOT / "assets/audio/speech_en.wav"
VID, CODES = ROOT / "assets/video/cityCC0.mpg", ROOT / "assets/images/coffee.png"
DOCS = ROOT / "docs"  # the README's screenshots, re-taken by this test


@pytest.fixture(scope="module")
def server():
    assert CHROMIUM, "chromium is missing: `make test` installs it with apt-get (Debian package chromium)"
    with demo_server("--max-request-seconds", "600") as url:  # the decoder round trip may be slow on a busy machine
        yield url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1800})
        pg.set_default_timeout(180_000)
        pg.goto(server)
        yield pg
        browser.close()


@pytest.fixture(scope="module")
def tok():
    return mmtok.MultimodalTokenizer("gemini-like")


def count(pg, elem: str) -> int:
    pg.wait_for_selector(f"#{elem}", state="attached")
    return int(pg.inner_text(f"#{elem}").replace(",", ""))


def open_tab(pg, name: str) -> None:
    pg.get_by_role("tab", name=name).click()


def wait_text(pg, elem: str, text: str) -> None:
    """Wait until element ``#elem`` contains ``text`` (an element from an earlier run may already be there)."""
    pg.wait_for_function("([sel, t]) => document.querySelector(sel)?.innerText.includes(t)", arg=[f"#{elem}", text])


def pick_token(pg, k: int, of: int) -> None:
    """Type token ``k`` into the slider's box; leaving the box runs the provenance handler."""
    box = pg.locator("#compose-token input[type=number]")
    box.fill(str(k))
    box.blur()
    wait_text(pg, "prov-summary", f"token {k} of {of} ")


def span_of(seq, label: str) -> tuple[int, object]:
    return next((k, s) for k, s in enumerate(seq.spans) if s.modality.label == label)


def test_compose_counts_and_provenance(page, tok):
    page.click("#compose-go")
    n = count(page, "compose-count")
    contents = ["Describe this picture and this sound:", file_content(IMG), file_content(AUD)]
    expected = tok.encode(contents)
    assert n == len(expected)
    table = expected.provenance_table(tok.text)
    k, span = span_of(expected, "image")
    page.get_by_text(f"image · {span.length}").first.click()  # a span of the timeline: its first patch lights up
    wait_text(page, "prov-summary", f"span {k} · image · token 1 of {span.length} ")
    assert page.get_attribute("#compose-token input[type=range]", "max") == str(span.length - 1)  # the span's range
    assert page.locator("#prov-picture img").get_attribute("src")  # the picture with the lit patch
    eye = 1 + 5 * 14 + 5  # a patch on the cat's right eye (row 5, column 5 of the 14x14 grid, after the marker)
    pick_token(page, eye, span.length)
    x0, y0, x1, y1 = table["box"][span.start + eye].tolist()
    assert f"box ({x0:.0f}, {y0:.0f})–({x1:.0f}, {y1:.0f}) px" in page.inner_text("#prov-summary")
    assert describe_token(expected, span.start + eye, tok.text) in page.inner_text("#prov-summary")  # the sentence
    assert "chelsea.png" in page.inner_text("#prov-summary") and "/tmp" not in page.inner_text("#prov-summary")
    page.wait_for_timeout(1500)  # the new picture fades in
    page.screenshot(path=str(ART / "demo-compose.png"), full_page=True)
    page.screenshot(path=str(DOCS / "demo-compose.png"), full_page=True)  # the README's picture, re-taken
    k, span = span_of(expected, "text")
    page.get_by_text(f"text · {span.length}").first.click()
    wait_text(page, "prov-summary", f"span {k} · text · token 0 of {span.length} ")
    a, b = table["chars"][span.start].tolist()
    assert b > a and page.locator("#prov-text .highlighted").inner_text().startswith(contents[0][a:b])
    k, span = span_of(expected, "audio")
    page.get_by_text(f"audio · {span.length}").first.click()
    wait_text(page, "prov-summary", f"span {k} · audio · token 1 of {span.length} ")
    t0, t1 = table["time"][span.start + 1].tolist()
    assert f"{t0:.2f}–{t1:.2f} s" in page.inner_text("#prov-summary")
    assert page.locator("#prov-picture img").get_attribute("src")
    want = span.start + 40  # a click on the proportional strip picks the token under it
    click_natural(page, "compose-strip", (want + 0.5) * 960 / len(expected), 10)
    wait_text(page, "prov-summary", f"span {k} · audio · token {want - span.start} of {span.length} ")
    assert "·" in page.inner_text("#compose-text")  # the text, token by token, its spaces shown


def click_natural(pg, elem: str, x: float, y: float) -> None:
    """Click the picture in ``#elem`` at (x, y) of its own pixels (it is shown scaled)."""
    img = pg.locator(f"#{elem} img")
    img.wait_for()
    natural = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    box = img.bounding_box()
    img.click(position={"x": x * box["width"] / natural[0], "y": y * box["height"] / natural[1]})


def test_models_tab_counts_and_cells(page, tok):
    """Every model's count on the page is ModelProcessor.num_tokens; a click on a token cell of qwen2-vl's picture
    shows that token on the original picture; a model that refuses pictures says so."""
    sys.path.insert(0, str(ROOT / "demos"))
    from models_tab import DEFAULT_MODELS

    from mmtok.media.imageio import load_image
    from mmtok.multimodal import modelview

    open_tab(page, "Models")
    page.click("#models-go")
    page.wait_for_selector("#models-summary >> text=tokens per model", timeout=300_000)
    for name in DEFAULT_MODELS:
        try:
            want = str(mmtok.ModelProcessor(name).num_tokens(mmtok.Image(IMG)))
        except mmtok.InputError:
            want = "no"
        assert page.inner_text(f"#models-count-{name}").replace(",", "") == want, name
    views = modelview.model_views(mmtok.Image(IMG), DEFAULT_MODELS)
    _, panels = modelview.picture_panels(views, load_image(IMG).pixels)
    panel = next(p for p in panels if views[p.view].model == "qwen2-vl")
    cell = panel.meta.patch_size * panel.meta.merge * panel.scale
    click_natural(page, "models-picture", panel.x + 2.5 * cell, panel.y + 1.5 * cell)  # row 1, column 2
    cols = panel.meta.cols // panel.meta.merge
    wait_text(page, "models-prov", f"token cell {cols + 2}")
    assert page.locator("#models-prov-picture img").get_attribute("src")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ART / "demo-models.png"), full_page=True)
    page.screenshot(path=str(DOCS / "demo-models.png"), full_page=True)  # the README's picture


def test_models_tab_clip_and_sound_lanes(page):
    open_tab(page, "Models")
    page.locator("#models-file button[aria-label='Clear']").click()
    page.locator("#models-file input[type=file]").set_input_files(str(AUD))
    page.click("#models-go")
    page.wait_for_selector("#models-summary >> text=speech_en.wav", timeout=300_000)
    for name in ("whisper", "gemma-3n"):
        assert page.inner_text(f"#models-count-{name}").replace(",", "") == str(
            mmtok.ModelProcessor(name).num_tokens(mmtok.Audio(AUD)))
    assert page.inner_text("#models-count-qwen2-vl") == "no"  # Qwen2-VL reads no sound
    sound = page.locator("#models-picture img").get_attribute("src")
    assert sound
    page.locator("#models-file button[aria-label='Clear']").click()
    page.locator("#models-file input[type=file]").set_input_files(str(VID))
    page.click("#models-go")
    page.wait_for_selector("#models-summary >> text=cityCC0.mpg", timeout=300_000)
    for name in ("qwen2-vl", "qwen3-vl", "gemma-4"):
        assert page.inner_text(f"#models-count-{name}").replace(",", "") == str(
            mmtok.ModelProcessor(name).num_tokens(mmtok.Video(VID)))
    assert page.inner_text("#models-count-gemma-3") == "no"  # Gemma 3 takes no clip
    page.wait_for_function("([sel, old]) => document.querySelector(sel)?.getAttribute('src') != old",
                           arg=["#models-picture img", sound])  # the lanes and each model's frames
    assert page.inner_text("#models-prov") == ""  # the picture's clicked token went with the picture
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ART / "demo-models-clip.png"), full_page=True)


def test_compose_provenance_reaches_every_token_of_a_long_span(page, tok):
    """A 3,170-token video: the slider's range follows the span; a token past it is refused with a message."""
    open_tab(page, "Compose")  # the Models tests before left their tab open
    page.locator("#compose-files button[aria-label='Clear']").click()  # an upload adds to the files shown
    page.locator("#compose-files input[type=file]").set_input_files([str(VID)])
    wait_text(page, "compose-files", "cityCC0")
    page.click("#compose-go")
    expected = tok.encode(["Describe this picture and this sound:", file_content(VID)])
    wait_text(page, "compose-count", str(len(expected)))
    k, span = span_of(expected, "video")
    page.get_by_text(f"video · {span.length}").first.click()
    wait_text(page, "prov-summary", f"span {k} · video · token 1 of {span.length} ")
    assert page.get_attribute("#compose-token input[type=range]", "max") == str(span.length - 1)
    far = 2000  # far past the old fixed 0-1023 range
    assert span.length > far
    pick_token(page, far, span.length)
    row = {name: col[span.start + far].tolist() for name, col in expected.provenance_table(tok.text).items()}
    assert (f"frame {row['frame']} (clip frame {row['frame_index']}) at {row['time'][0]:.2f} s"
            in page.inner_text("#prov-summary"))
    page.screenshot(path=str(ART / "demo-compose-video.png"), full_page=True)
    box = page.locator("#compose-token input[type=number]")
    box.fill(str(span.length + 500))
    box.blur()
    page.wait_for_selector(f"text=/{span.length + 500}.*(greater than|outside)/")  # refused with a message
    assert f"token {far} of {span.length} " in page.inner_text("#prov-summary")  # and nothing else was shown


def test_image_tab_counts_follow_the_policy(page, tok):
    open_tab(page, "Image")
    h, w = mmtok.media.imageio.load_image(IMG).pixels.shape[1:]
    assert count(page, "image-count") == mmtok.ImageTokenizer(mmtok.ImageConfig()).num_tokens(h, w)
    for policy in ("dynamic", "tiles"):
        page.get_by_label(policy).check()
        want = mmtok.ImageTokenizer(mmtok.ImageConfig(resize=policy)).num_tokens(h, w)
        page.wait_for_function(f"document.querySelector('#image-count') && "
                               f"document.querySelector('#image-count').innerText == '{want}'")
        assert count(page, "image-count") == want == len(mmtok.ImageTokenizer(
            mmtok.ImageConfig(resize=policy)).encode(IMG).patches)
        page.screenshot(path=str(ART / f"demo-image-{policy}.png"), full_page=True)


def test_video_tab(page, tok):
    open_tab(page, "Video")
    page.click("#video-go")
    expected = sum(len(f.patches) for f in tok.video.encode(VID).frames)
    assert count(page, "video-count") == expected
    page.screenshot(path=str(ART / "demo-video.png"), full_page=True)


def test_audio_tab(page, tok):
    open_tab(page, "Audio")
    page.click("#audio-go")
    assert count(page, "audio-count") == len(tok.audio.encode(AUD).tokens)
    page.screenshot(path=str(ART / "demo-audio.png"), full_page=True)


def test_codes_tab(page, tok):
    open_tab(page, "Codes")
    page.click("#codes-go")
    assert count(page, "codes-count") == tok.vq_num_tokens(*mmtok.media.imageio.load_image(CODES).pixels.shape[1:])
    page.screenshot(path=str(ART / "demo-codes.png"), full_page=True)


def test_budget_tab(page, tok):
    open_tab(page, "Budget")
    page.click("#budget-go")
    page.wait_for_selector("#budget-table >> text=gemini-api")
    rows = mmtok.budget(["How many tokens is this?", file_content(IMG), file_content(VID), file_content(AUD)],
                        tokenizer=tok)
    cells = [c.strip() for c in page.inner_text("#budget-table").split("\n") if c.strip()]
    for r in rows:
        i = cells.index(r["model"])
        row = cells[i:i + 7]  # model, text, image, video, audio, unsupported, total
        assert [int(x) for x in (row[1:5] + row[6:7])] == [r["text"], r["image"], r["video"], r["audio"],
                                                            r["total"]], (r, row)
    page.screenshot(path=str(ART / "demo-budget.png"), full_page=True)


def test_bad_upload_shows_the_typed_error(page, tmp_path):
    """A broken PNG (the signature, then zeros) uploaded on the Image tab: the page's one message is the library's
    DecodeError for it, word for word, naming the file (where Gradio stored the upload) and saying what to do."""
    import re

    open_tab(page, "Image")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    with pytest.raises(mmtok.DecodeError) as e:  # what the README's hostile-input table says of a corrupt PNG
        mmtok.ImageTokenizer(mmtok.ImageConfig()).encode(bad)
    before, after = f"DecodeError: {e.value}".split(str(bad))  # the message around the file's path
    for close in page.locator("[data-testid=toast-close]").all():  # messages left by earlier tests
        close.click()
    page.wait_for_function("!document.querySelector('[data-testid=toast-text]')")
    page.locator("#image-file button[aria-label='Clear']").click()
    page.locator("#image-file input[type=file]").set_input_files(str(bad))
    page.wait_for_selector("[data-testid=toast-text]")
    shown = page.locator("[data-testid=toast-text]").all_inner_texts()
    assert len(shown) == 1 and re.fullmatch(re.escape(before) + r"/.+/broken\.png" + re.escape(after), shown[0]), (
        shown, before, after)
    assert "Traceback" not in page.inner_text("body")
    page.screenshot(path=str(ART / "demo-error.png"), full_page=True)


def test_decoder_round_trip_shows_progress_and_the_codes_match(page, tok):
    """The training's tqdm bar reaches the page (Gradio's track_tqdm), and the round trip ends with the codes equal
    to the VQ codes: the numbers shown are the library's, the regenerated picture is the VQ reconstruction."""
    import io
    from urllib.parse import urljoin

    import numpy as np
    import torch
    from PIL import Image as PILImage

    from mmtok import TinyDecoder
    from mmtok.roundtrip import decoder_config

    open_tab(page, "Decoder")
    page.click("#decoder-go")
    bar = page.wait_for_selector(".progress-level >> text=decoder round trip: training", timeout=300_000)
    assert bar.is_visible()
    page.screenshot(path=str(ART / "demo-decoder-progress.png"), full_page=True)
    page.wait_for_selector("#decoder-same", timeout=600_000)  # 59-83 s on 2 idle cores
    target = tok.vq.encode(IMG)
    assert "codes match: True" in page.inner_text("#decoder-summary")
    assert count(page, "decoder-same") == count(page, "decoder-codes") == target.numel()
    prompt = tok.encode(["Redraw this picture as image codes:", file_content(IMG)])
    assert count(page, "decoder-parameters") == TinyDecoder(decoder_config(tok.vocab, prompt)).num_parameters()
    assert 1 <= count(page, "decoder-steps") <= 2000
    src = page.get_attribute("#decoder-regenerated img", "src")
    shown = PILImage.open(io.BytesIO(page.request.get(urljoin(page.url, src)).body())).convert("RGB")
    want = tok.vq.decode(target)  # uint8 [3, S, S]
    assert torch.equal(torch.from_numpy(np.asarray(shown)).permute(2, 0, 1), want)
    page.screenshot(path=str(ART / "demo-decoder.png"), full_page=True)
