"""Peak memory of one mmtok call, measured in a fresh process (shared by the benchmarks).

The kernel's high-water mark (VmHWM) is reset after the imports (``echo 5 > /proc/self/clear_refs``), so the peak
is the call's own, not torch's import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def peak_rss_mb(setup: str, call: str, path: Path) -> tuple[float, float]:
    """(RSS after ``setup``, peak RSS during ``call``) in MB; ``call`` sees the file as ``sys.argv[1]``."""
    code = (f"import sys\n{setup}\n"
            "def kb(key):\n"
            "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(key))\n"
            "open('/proc/self/clear_refs', 'w').write('5')\n"
            f"a = kb('VmRSS:')\n{call}\nb = kb('VmHWM:')\nprint(a / 1024, b / 1024)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    a, b = map(float, out.stdout.split())
    return a, b
