"""The demo under load, on loopback: 8 concurrent clients against 1 running and 2 waiting requests get exactly 3
answers and 5 "queue is full" messages, the server keeps serving afterwards, oversized uploads are refused with a
message, and a request that runs out of time does not make the next one run out of time too. No assertion is on
elapsed seconds: outcomes are made certain by holding the work until the test lets it go, and checked by the order
of events."""

from __future__ import annotations

import functools
import os
import queue
import runpy
import threading
import time

import pytest

import mmtok
from demo_server import ROOT, free_port

IMG = str(ROOT / "assets/images/chelsea.png")
POLICIES = ("fixed", "dynamic", "tiles")


def load_app() -> dict:
    return runpy.run_path(str(ROOT / "demos/app.py"), run_name="demo_app")


class Gate:
    """Holds the demo's image handler: each call reports its policy on ``entered``, then waits until ``opened``."""

    def __init__(self) -> None:
        self.entered: queue.Queue[str] = queue.Queue()
        self.opened = threading.Event()
        self.opened.set()

    def hold(self, image):
        @functools.wraps(image)  # the same name (the API's "/image") and parameters
        def held(demo, path, resize, aspect):
            self.entered.put(resize)
            assert self.opened.wait(300), "the test never opened the gate"
            return image(demo, path, resize, aspect)

        return held


@pytest.fixture(scope="module")
def demo():
    """(URL, gate) of the demo served in this process with tight limits: 1 request running, 2 waiting, uploads up to
    1 MB; its image handler passes through ``gate``."""
    app, gate = load_app(), Gate()
    app["Demo"].image = gate.hold(app["Demo"].image)  # this run's own class: nothing else sees the change
    limits = app["DemoLimits"](max_upload_mb=1, concurrency=1, queue_size=2)
    blocks = app["serve"](limits, "127.0.0.1", free_port(), block=False)
    try:
        yield blocks.local_url, gate
    finally:
        blocks.close()


def client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def submit(c, path: str = IMG, resize: str = "fixed"):
    from gradio_client import handle_file

    return c.submit(handle_file(path), resize, "crop", api_name="/image")


def expected_summary_start(resize: str) -> str:
    h, w = mmtok.media.imageio.load_image(IMG).pixels.shape[1:]
    return f"<span id='image-count'>{mmtok.ImageTokenizer(mmtok.ImageConfig(resize=resize)).num_tokens(h, w)}</span>"


def settle(jobs) -> None:
    """Wait until every job has its place: refused (done), waiting in the queue or running. The limit of 300 s only
    guards against a hang; no outcome depends on how long this takes."""
    from gradio_client.utils import Status

    for job in jobs:
        for _ in range(6000):
            if job.done() or job.status().code in (Status.IN_QUEUE, Status.PROCESSING):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"a request found no place in 300 s: {job.status()}")


def test_eight_concurrent_clients_three_answered_five_busy(demo):
    """One request holds the only worker (the gate is shut) while 7 more arrive: 2 take the 2 queue places, 5 are
    refused with Gradio's "queue is full" message. Opened, the gate lets the 3 accepted ones finish with the library's
    counts; then the server answers a ninth request."""
    from gradio_client.utils import QueueError, Status

    url, gate = demo
    clients = [client(url) for _ in range(8)]
    gate.opened.clear()
    try:
        first = submit(clients[0], resize=POLICIES[0])
        assert gate.entered.get(timeout=300) == POLICIES[0]  # the first request runs and holds the only worker
        jobs = {submit(c, resize=POLICIES[i % 3]): POLICIES[i % 3] for i, c in enumerate(clients[1:], 1)}
        settle(jobs)
        refused = [j for j in jobs if j.done()]
        waiting = {j: resize for j, resize in jobs.items() if not j.done()}
        assert [j.status().code for j in waiting] == [Status.IN_QUEUE] * 2, [j.status() for j in waiting]
        assert len(refused) == 5
        for j in refused:
            with pytest.raises(QueueError, match="Queue is full"):
                j.result()
        assert gate.entered.empty()  # no second request ran while the first held the worker
    finally:
        gate.opened.set()
    for job, resize in {first: POLICIES[0], **waiting}.items():
        summary = job.result(timeout=300)[1]
        assert summary.startswith(expected_summary_start(resize)), summary
    summary = submit(client(url), resize="tiles").result(timeout=300)[1]
    assert summary.startswith(expected_summary_start("tiles")), summary  # and the server still serves
    ran = [gate.entered.get_nowait() for _ in range(gate.entered.qsize())]
    assert sorted(ran) == sorted([*waiting.values(), "tiles"])  # each accepted request ran once, after the first


def test_oversized_upload_is_refused(demo, tmp_path):
    """A 2 MB file against the 1 MB limit: Gradio's client refuses to send it, the server refuses it too (HTTP 413)
    when sent anyway; the handler never runs, and the server answers the next request."""
    import httpx

    url, gate = demo
    assert gate.entered.empty()  # the test before took what its requests put there
    limit = 1 * 2**20  # bytes: the fixture's max_upload_mb=1
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2 * 2**20))
    with pytest.raises(ValueError, match=f"big.png exceeds the maximum file size of {limit} bytes"):
        submit(client(url), str(big)).result(timeout=300)
    with open(big, "rb") as f:
        r = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.png", f, "image/png")}, timeout=300)
    assert r.status_code == 413 and f"maximum allowed size of {limit} bytes" in r.text, (r.status_code, r.text)
    assert gate.entered.empty()
    assert submit(client(url)).result(timeout=300)[1].startswith(expected_summary_start("fixed"))
    assert gate.entered.get_nowait() == "fixed"


def test_time_limit_counts_from_the_start_of_a_request(monkeypatch):
    """A request that runs out of time is answered while its thread (which Python cannot stop) still runs; that
    thread keeps the only worker until it ends, and the next request waits for the worker longer than its own
    limit without being answered with a time-out: its limit starts when it runs. The order of events shows it."""
    import gradio as gr

    app = load_app()
    limit = 1.0  # s; the quick request's work (appending to a list) must end within it once it runs
    d = app["Demo"](app["DemoLimits"](max_request_seconds=limit, concurrency=1))
    events: list[str] = []
    release, quick_queued, quick_answered = threading.Event(), threading.Event(), threading.Event()

    def slow_work():
        events.append("slow starts")
        release.wait(60)  # the test releases it; 60 s only so that a broken demo ends
        events.append("slow ends")

    def quick_work():
        events.append("quick starts")
        return "done"

    slow, quick = d.guarded(slow_work), d.guarded(quick_work)
    with pytest.raises(gr.Error, match=f"longer than {limit:.0f} s"):
        slow()
    events.append("slow answered")
    submit_work = d.pool.submit

    def recording_submit(fn, *args):  # the next submission is the quick request's
        future = submit_work(fn, *args)
        events.append("quick queued")
        quick_queued.set()
        return future

    monkeypatch.setattr(d.pool, "submit", recording_submit)
    outcome: list = []

    def call_quick():
        try:
            outcome.append(quick())
        except gr.Error as e:
            outcome.append(e)
        quick_answered.set()

    threading.Thread(target=call_quick, daemon=True).start()
    try:
        assert quick_queued.wait(60)
        # waiting for the worker for twice its limit does not time the quick request out
        assert not quick_answered.wait(2 * limit), outcome
    finally:
        release.set()
    assert quick_answered.wait(60)
    assert outcome == ["done"]
    assert events == ["slow starts", "slow answered", "quick queued", "slow ends", "quick starts"]


def test_a_picture_returned_twice_is_one_file_never_rewritten(tmp_path):
    """Two requests with the same answer get one file, written once: Gradio's own cache of returned PIL pictures
    rewrites that file in place while another client may be downloading it (the download then ends early), so the
    demo hands Gradio files that are never rewritten in place. Pictures written ``max_age`` ago are pruned."""
    from PIL import Image

    app = load_app()
    d = app["Demo"](app["DemoLimits"](concurrency=1))
    d.files = app["PictureFiles"](tmp_path / "pictures")
    image = d.guarded(d.image)
    first, md = image(IMG, "tiles", "crop")
    before = os.stat(first)
    again, md_again = image(IMG, "tiles", "crop")
    assert (again, md_again) == (first, md)
    after = os.stat(first)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not written again
    with Image.open(first) as im:
        assert im.format == "PNG" and im.size[0] > 0
    assert md.startswith(expected_summary_start("tiles"))
    other = d.files.path(Image.new("RGB", (8, 8), "red"))
    assert other != first and sorted(p.name for p in (tmp_path / "pictures").iterdir()) == sorted(
        [os.path.basename(first), os.path.basename(other)])  # no staging file left behind
    aging = time.time() - 0.6 * d.files.max_age
    os.utime(first, (aging, aging))
    with open(first, "rb") as download:  # a client still fetching the old file
        assert image(IMG, "tiles", "crop")[0] == first  # returned again near its prune time: written afresh
        assert os.stat(first).st_ino != before.st_ino and len(download.read()) == before.st_size
    old = time.time() - 2 * d.files.max_age
    os.utime(other, (old, old))
    d.files.path(Image.new("RGB", (8, 8), "blue"))  # a new write prunes what was written max_age ago
    assert os.path.exists(first) and not os.path.exists(other)
