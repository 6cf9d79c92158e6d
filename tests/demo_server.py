"""Start the demo as a real process on a free loopback port (for the browser and load tests)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ART = ROOT / "artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def demo_server(*flags: str, log_name: str = "demo-server.log", timeout: float = 180):
    """Yields the demo's URL; the server runs ``mmtok demo --port P *flags`` and is stopped afterwards."""
    port = free_port()
    ART.mkdir(exist_ok=True)
    with open(ART / log_name, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mmtok.cli", "demo", "--port", str(port), *flags], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + timeout
        try:
            while True:
                try:
                    urllib.request.urlopen(url, timeout=5)
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"the demo did not start; see {ART / log_name}") from None
                    time.sleep(1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
