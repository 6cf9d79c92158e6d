"""A check for calls that must fail fast instead of blocking (opening a FIFO for reading blocks forever)."""

import re
import threading


def raises_without_blocking(fn, error, match, seconds: float = 20) -> None:
    """fn() raises ``error`` whose message matches ``match`` within ``seconds``."""
    box = {}

    def run():
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - handed to the test thread
            box["e"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked"
    assert isinstance(box.get("e"), error) and re.search(match, str(box["e"])), box.get("e")
