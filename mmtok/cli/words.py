"""Library messages in command-line words.

A library error names what a Python caller changes ("pass truncate=True", "VQConfig.image_size=60"); on the
command line the same advice is a flag ("add --truncate", "--image-size 60"). :data:`CLI_WORDS` holds the known
cases, and :func:`cli_words` applies them to every message the CLI prints (errors, budget reasons, per-file
errors of a folder). A limit the CLI has no flag for keeps its Python name and says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["CLI_WORDS", "cli_words"]

# (the library's phrase, the command line's): applied in this order
CLI_WORDS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"\bpass truncate=True\b"), "add --truncate"),  # ContextLengthError
    (re.compile(r"\braise max_length\b"), "raise --max-length"),
    # a clip's sound where the model or the file has none (qwen*, gemma-4; a silent clip)
    (re.compile(r"give mmtok\.Video\(src\) without audio=True"), "drop --with-sound"),
    (re.compile(r"give mmtok\.Video\(src\) and the sound as mmtok\.Audio\(src\) separately"), "drop --with-sound"),
    (re.compile(r"tokenize it as video \(mmtok\.Video / VideoTokenizer\)"), "drop --with-sound"),
    # roundtrip --through-decoder --image-size N
    (re.compile(r"VQConfig\.image_size=(\S+): use a positive multiple of downsample=(\d+)"),
     r"--image-size \1: use a positive multiple of \2"),
    # dataset --shard-size / --batch-size / --workers
    (re.compile(r"CorpusConfig\.(shard_size|batch_size|workers)\b"), lambda m: "--" + m.group(1).replace("_", "-")),
    # limits with no flag (max_pixels, max_duration, max_decoded_frames)
    (re.compile(r"\braise ((?:Image|Video|Audio)Config\(\w+=\.\.\.\))"),
     r"the mmtok command keeps the default limit; in Python, raise \1"),
)


def cli_words(message: str) -> str:
    """``message`` with every known library phrase in :data:`CLI_WORDS` replaced by its command-line phrase."""
    for pattern, words in CLI_WORDS:
        message = pattern.sub(words, message)
    return message
