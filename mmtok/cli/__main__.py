"""``python -m mmtok.cli``: the ``mmtok`` command."""

import sys

from . import main

sys.exit(main())
