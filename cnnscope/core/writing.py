"""Writing output files atomically and safely: a failure leaves no half-written file behind.

The path may come from CI configuration: only regular files are ever written.
An existing FIFO, device or directory is refused (os.replace would turn
/dev/null into a regular file), a symlink is followed and its target replaced,
not the link, and the file gets the umask's permissions (an existing file
keeps its own), like a file the shell writes. The data is fsynced before the
rename, so a crash leaves the old file or the new one.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import CnnscopeError


def _destination(path) -> Path:
    """The file that will be replaced: the symlink's target, which must be a regular file or not exist yet."""
    final = Path(os.path.realpath(path))
    try:
        info = os.stat(final)
    except FileNotFoundError:
        return final
    except OSError as exc:
        raise CnnscopeError(f"cannot write {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, FIFO or socket)"
        raise CnnscopeError(f"cannot write {path}: it is {kind}; give the path of a file")
    return final


def _mode(final: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(final).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _replace_atomically(path, write, suffix: str) -> None:
    """write(temporary path) beside the destination, then fsync, chmod and rename over it."""
    final = _destination(path)
    if not final.parent.is_dir():
        raise CnnscopeError(f"cannot write {path}: the folder {final.parent} does not exist; create it first")
    try:
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=suffix)
    except OSError as exc:  # a read-only or full file system, a folder without write permission
        raise CnnscopeError(f"cannot write {path}: {exc.strerror}") from None
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _mode(final))
        os.replace(tmp, final)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CnnscopeError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    _replace_atomically(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), ".tmp")


def atomic_write_bytes(path, data: bytes) -> None:
    _replace_atomically(path, lambda tmp: Path(tmp).write_bytes(data), ".tmp")


def atomic_keras_save(model, path) -> None:
    """model.save to a temporary .keras beside path, then rename (Keras insists on the .keras suffix)."""
    _replace_atomically(path, model.save, ".keras")
