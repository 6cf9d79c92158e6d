"""The demo under load, on loopback: oversized uploads are refused with a message, 8 concurrent clients all get an
answer or a clear "busy" message, and the server keeps serving afterwards; a request that runs out of time does not
make the next one run out of time too."""

from __future__ import annotations

import concurrent.futures
import os

import pytest

from demo_server import ROOT, demo_server

IMG = str(ROOT / "assets/images/chelsea.png")


@pytest.fixture(scope="module")
def url():
    # tight limits so that 8 clients overflow the queue: 1 at a time, 2 waiting, uploads up to 1 MB
    with demo_server("--concurrency", "1", "--queue-size", "2", "--max-upload-mb", "1",
                     log_name="demo-load-server.log") as u:
        yield u


def call(url: str, path: str, resize: str = "fixed"):
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    return client.predict(handle_file(path), resize, "crop", api_name="/image")


def test_eight_concurrent_clients_get_answers_or_busy(url):
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        futures = [ex.submit(call, url, IMG, ("fixed", "dynamic", "tiles")[i % 3]) for i in range(8)]
        done, pending = concurrent.futures.wait(futures, timeout=300)
    assert not pending, "some clients got no answer within 300 s"
    answered, busy = 0, 0
    for f in done:
        e = f.exception()
        if e is None:
            assert "patch tokens" in f.result()[1]
            answered += 1
        else:
            assert "queue" in str(e).lower() or "full" in str(e).lower(), f"not a clear busy message: {e!r}"
            busy += 1
    assert answered >= 3 and answered + busy == 8
    assert "patch tokens" in call(url, IMG)[1]  # and the server still serves


def test_oversized_upload_is_refused(url, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2 * 1024 * 1024))
    with pytest.raises(Exception) as e:
        call(url, str(big))
    assert "size" in str(e.value).lower() or "large" in str(e.value).lower() or "413" in str(e.value), e.value
    assert "patch tokens" in call(url, IMG)[1]


def test_time_limit_counts_from_the_start_of_a_request():
    """A request that runs out of time gets a message at once; its thread (which Python cannot stop) keeps the worker
    until it ends, and the next request waits for that worker without being charged for the wait."""
    import runpy
    import time

    import gradio as gr

    app = runpy.run_path(str(ROOT / "demos/app.py"), run_name="demo_app")
    d = app["Demo"](app["DemoLimits"](max_request_seconds=1.0, concurrency=1))
    slow, quick = d.guarded(lambda: time.sleep(2.0)), d.guarded(lambda: time.sleep(0.6) or "done")
    t0 = time.perf_counter()
    with pytest.raises(gr.Error, match="longer than 1 s"):
        slow()
    assert time.perf_counter() - t0 < 1.5  # answered at the limit, not when the thread ends
    assert quick() == "done"  # waited ~1 s for the worker, then ran 0.6 s: within its own 1 s
    assert time.perf_counter() - t0 > 2.0
