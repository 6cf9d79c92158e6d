"""Where the CLI and the demo have long imported the sniffing door from; it lives in :mod:`mmtok.media.files`
(``mmtok.File``)."""

from ..media.files import File, TextFile, file_content, file_kind

__all__ = ["File", "file_kind", "file_content", "TextFile"]
