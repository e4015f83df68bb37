"""Atomic file output: a reader sees the old file or the new one, never half of one.

Every file the tool writes is first written to a temporary file beside it, named
`.NAME.nncompile-PID-RANDOM.tmp`, then renamed over NAME. The name says whose it is: an
interrupted write (Ctrl-C, SIGTERM) removes its own temporary file as it unwinds, and since
a SIGKILL cannot be caught, every write first removes the temporary files that writers now
dead left in the same directory. A file of a live writer, or any file not named so, is
never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path

TEMP_MARK = "nncompile"
_TEMP_NAME = re.compile(rf"^\..+\.{TEMP_MARK}-(\d+)-[0-9a-f]{{8}}\.tmp$")
_OURS: set[str] = set()  # temporary files this process is writing now


def temp_name(target: str) -> str:
    """The name of a temporary file for `target` (a file name), unique to this process."""
    # os.urandom is what secrets.token_hex draws from; importing secrets costs ~3 ms (hmac, hashlib)
    return f".{target}.{TEMP_MARK}-{os.getpid()}-{os.urandom(4).hex()}.tmp"


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yields a temporary path beside `path`; on success it replaces `path` in one rename.

    The new file keeps the mode of the file it replaces (a 0600 file stays 0600); a new file
    gets the mode the umask gives any new file. A symlink is written through: the file it
    points to is replaced and the link stays, since a link to a shared location is the
    user's arrangement, which replacing the link itself would silently undo. The directory
    must exist: an output never creates directories the user did not ask for."""
    path = Path(os.path.realpath(path))
    remove_stale_temps(path.parent)
    tmp = path.parent / temp_name(path.name)
    # Created as 0666 less the umask, as any new file: the mode the umask gives, learnt
    # without os.umask(), which would change the process-wide mask under other threads.
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as e:  # name the file asked for, not our temporary one
        raise OSError(e.errno, e.strerror, str(path)) from None
    _OURS.add(str(tmp))
    try:
        mode = _mode_of(path)
        mode = stat.S_IMODE(tmp.stat().st_mode) if mode is None else mode
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # a writer may have replaced the file with one of another mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        _OURS.discard(str(tmp))


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def remove_stale_temps(directory: Path) -> list[Path]:
    """Removes the temporary files in `directory` that a writer now dead (a killed nncompile)
    left: our name, a regular file of this user, and a writer pid that no longer runs (or
    this process's pid, recycled, for a file this process is not writing). Returns them."""
    removed = []
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            match = _TEMP_NAME.match(entry.name)
            if match is None or _alive(int(match[1]), entry.path):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(info.st_mode) and info.st_uid == _uid():
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _alive(pid: int, path: str) -> bool:
    if pid == os.getpid():
        return path in _OURS
    if os.name != "posix":
        return True  # no cheap test of another process: leave its files alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and another user's
        return True
    return True


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


def _mode_of(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
