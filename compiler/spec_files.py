"""Spec files as read from disk: their bytes, refused before reading when they are not regular
files or are too large, and their lines, which diagnostics quote."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from .diagnostics import Diagnostic, SpecError, Span

MAX_FILE_BYTES = 20 * 1024 * 1024
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # YAML's line breaks, so line numbers agree
_RARE_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


class SourceCache:
    """The text of every file read, so diagnostics can quote their line."""

    def __init__(self):
        self._lines: dict[str, list[str]] = {}

    def add(self, file: str, text: str) -> None:
        self._lines[file] = _lines(text)

    def files(self) -> list[str]:
        """The names of the files held, in the order they were read."""
        return list(self._lines)

    def line(self, file: str, line: int) -> str | None:
        lines = self._lines.get(file)
        if lines is None:
            try:
                lines = _lines(read_spec(Path(file), file).decode("utf-8", errors="replace"))
            except SpecError:  # unreadable, not a file, too large: the message says so without the line
                return None
            self._lines[file] = lines
        return lines[line - 1] if 0 < line <= len(lines) else None


def _lines(text: str) -> list[str]:
    """The text's lines as YAML numbers them (str.split, several times faster, where only
    \\n breaks lines)."""
    return _LINE_BREAK.split(text) if any(b in text for b in _RARE_BREAKS) else text.split("\n")


def read_spec(path: Path, display: str) -> bytes:
    """A spec file's bytes; what is not a regular file, or is larger than MAX_FILE_BYTES, is
    refused before it is read (a FIFO would block, /dev/zero never ends)."""
    def refuse(message: str, code: str = "no-file"):
        raise SpecError(Diagnostic(message, Span(display, 1, 1), code=code))

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO must not wait for a writer
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the name
        refuse(f"cannot read {display}: {getattr(e, 'strerror', None) or e}")
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            refuse(f"{display} is a directory, not a spec file")
        if not stat.S_ISREG(info.st_mode):
            refuse(f"{display} is not a regular file (a FIFO, a device or a socket)")
        too_large = f"{display} is {{:,}} bytes; specs are limited to {MAX_FILE_BYTES:,}"
        if info.st_size > MAX_FILE_BYTES:
            refuse(too_large.format(info.st_size), "yaml-too-large")
        data = os.read(fd, MAX_FILE_BYTES + 1)  # Linux reads a regular file whole in one call
        if len(data) > MAX_FILE_BYTES:  # it grew since fstat
            refuse(too_large.format(len(data)) + " (and growing)", "yaml-too-large")
    except OSError as e:
        refuse(f"cannot read {display}: {e.strerror or e}")
    finally:
        os.close(fd)
    return data
