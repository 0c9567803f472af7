"""Files that are whole or absent: atomic file writes and staged output folders, with one rule for foreign folders.

Every writer of tradeflows goes through here: the store's chunks and manifest
(:func:`atomic_write`), the analysis tables (``analyze(out=...)``,
``tradeflows analyze``) and the report folder (:func:`staged_dir`).

- A file is written to a temporary file beside it, flushed, fsynced and
  renamed over its name, so it holds its old or its new content, never half.
- An output folder is built beside its destination (``.<name>.<random>.tmp``)
  and swapped in whole only when complete. On Linux the swap is one atomic
  ``renameat2(RENAME_EXCHANGE)``, so a process killed at any moment leaves
  the earlier or the new folder complete at the destination, never a mix;
  elsewhere the earlier folder is renamed aside (``.<name>.old.<random>.tmp``)
  and the new one renamed in, and a kill between the two renames is undone
  by the next run, which puts the earlier folder back.
- Staging folders and temporary files of killed runs are removed by the next
  run writing the same destination, but only those named as this module names
  them and last changed before the running process started (a live writer's
  are newer); anything else beside the destination is never touched.
- The one rule for an output folder: its parent must exist, and if it exists
  it must be empty or hold the marker file of an earlier tradeflows output of
  the same kind (``.tradeflows-report``, ``.tradeflows-analysis``). A folder
  holding someone else's files is refused, never replaced.
- A full disk (``ENOSPC``, ``EDQUOT``, ``EFBIG``) ends a write with
  :class:`DiskFullError`, a one-line user error, and the destination as it was.

Files and folders get the permissions of the user's umask, like any file the
user makes (``tempfile`` alone would create them 0600/0700).
"""
from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Literal

from .errors import InputError, TradeflowsError

OutputKind = Literal["report", "analysis"]
MARKERS: dict[str, str] = {"report": ".tradeflows-report", "analysis": ".tradeflows-analysis"}
TMP_SUFFIX = ".tmp"
DISK_FULL_ERRNOS = frozenset(code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG)
                             if code is not None)
"""``OSError.errno`` values that mean "no room to write": no space, quota exceeded, file too large."""

_IMPORTED = time.time()
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


class DiskFullError(TradeflowsError):
    """A write failed for lack of space (disk full, quota exceeded, file too large); nothing was changed."""


@contextmanager
def disk_full_is_an_error(what: str) -> Iterator[None]:
    """Turn a "no space" OSError raised inside into :class:`DiskFullError` naming ``what`` was being written."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None or exc.errno not in DISK_FULL_ERRNOS:
            raise
        raise DiskFullError(f"{what}: {os.strerror(exc.errno)}; nothing was changed: free some space "
                            "and run the command again") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (where the platform allows it)."""
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes | str | Callable[[IO[str]], object]) -> Path:
    """Write ``data`` (bytes, text, or a function writing text to a file) to ``path`` atomically.

    A full disk raises :class:`DiskFullError` and leaves ``path`` as it was (no temporary file remains).
    """
    path = Path(path)
    with disk_full_is_an_error(f"writing {path}"):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
        try:
            os.fchmod(fd, 0o666 & ~_umask())
            if isinstance(data, bytes):
                with os.fdopen(fd, "wb") as fb:
                    fb.write(data)
                    fb.flush()
                    os.fsync(fb.fileno())
            else:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                    if isinstance(data, str):
                        fh.write(data)
                    else:
                        data(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
    fsync_dir(path.parent)
    return path


# --------------------------------------------------------------------------- debris of killed runs

def process_started() -> float:
    """When the running process started (epoch seconds): from ``/proc`` on Linux, else when this module loaded."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError, AttributeError):
        return _IMPORTED
    return time.time() - uptime + started_after_boot


def _debris_pattern(name: str) -> re.Pattern[str]:
    """Names this module gives to temporary files and folders beside ``name`` (``tempfile``'s 8 random chars)."""
    return re.compile(rf"\.{re.escape(name)}\.(?P<old>old\.)?[a-z0-9_]{{8}}{re.escape(TMP_SUFFIX)}")


def _last_change(path: Path) -> float:
    """Latest modification time of ``path`` and, for a folder, of what it directly holds."""
    times = [path.lstat().st_mtime]
    if path.is_dir() and not path.is_symlink():
        times += [child.lstat().st_mtime for child in path.iterdir()]
    return max(times)


def clean_debris(target: str | os.PathLike[str], *, before: float | None = None) -> list[Path]:
    """Remove the staging folders and temporary files of killed runs writing ``target``; return what was removed.

    Only entries beside ``target`` named as this module names them and last
    changed before ``before`` (default: the start of the running process) are
    removed. If ``target`` itself is missing and an earlier folder set aside
    by an interrupted swap is found (``.<name>.old.<random>.tmp`` holding a
    tradeflows marker), it is put back rather than removed.
    """
    target = Path(target).expanduser().absolute()
    cutoff = process_started() - 1.0 if before is None else before
    pattern = _debris_pattern(target.name)
    removed: list[Path] = []
    try:
        entries = sorted(target.parent.iterdir())
    except OSError:
        return removed
    for path in entries:
        match = pattern.fullmatch(path.name)
        if match is None or path.is_symlink():
            continue
        try:
            if _last_change(path) >= cutoff:
                continue  # may belong to a writer that is still running
            if (match["old"] and path.is_dir() and not target.exists()
                    and any((path / marker).is_file() for marker in MARKERS.values())):
                path.rename(target)  # the earlier output, set aside by a swap that was killed half-way
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


# --------------------------------------------------------------------------- output folders

def check_out_dir(out: str | os.PathLike[str], kind: OutputKind) -> Path:
    """``out`` as an absolute path after checking that a ``kind`` output may be written there (the one rule)."""
    path = Path(out).expanduser().absolute()
    if not path.parent.is_dir():
        raise InputError(f"output folder {path}: its parent folder {path.parent} does not exist")
    if path.exists() and not path.is_dir():
        raise InputError(f"output folder {path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not (path / MARKERS[kind]).exists():
        raise InputError(f"output folder {path} is not empty and holds no earlier tradeflows {kind}: "
                         "choose a new or empty folder")
    return path


@contextmanager
def staged_dir(out: str | os.PathLike[str], kind: OutputKind) -> Iterator[Path]:
    """Yield an empty folder beside ``out``; on success swap it in as ``out``, on failure remove it.

    ``out`` is checked first (:func:`check_out_dir`) and debris of killed
    runs beside it is cleaned (:func:`clean_debris`). The marker file is
    written into the staged folder, so the result may be replaced next time.
    A full disk raises :class:`DiskFullError` and leaves ``out`` as it was.
    """
    target = Path(out).expanduser().absolute()
    clean_debris(target)
    target = check_out_dir(target, kind)
    with disk_full_is_an_error(f"writing the {kind} folder {target}"):
        staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TMP_SUFFIX, dir=target.parent))
        try:
            os.chmod(staged, 0o777 & ~_umask())
            yield staged
            (staged / MARKERS[kind]).write_text(f"tradeflows {kind} folder: tradeflows may replace it whole\n",
                                                encoding="utf-8")
            _swap(staged, target)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one atomic step (Linux ``renameat2``); False where that is unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False  # the kernel or the file system cannot exchange
    raise OSError(code, os.strerror(code), str(b))


def _swap(staged: Path, target: Path) -> None:
    """Put ``staged`` at ``target`` and remove the earlier folder (see the module docstring for the two ways)."""
    check_out_dir(target, _kind_of(staged))  # the folder may have changed while the output was built
    if target.exists() and _exchange(staged, target):
        fsync_dir(target.parent)
        shutil.rmtree(staged, ignore_errors=True)  # now the earlier folder
        return
    aside: Path | None = None
    if target.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", suffix=TMP_SUFFIX, dir=target.parent))
        aside.rmdir()
        target.rename(aside)
    try:
        staged.rename(target)
    except BaseException:
        if aside is not None:
            aside.rename(target)
        raise
    fsync_dir(target.parent)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def _kind_of(staged: Path) -> OutputKind:
    for kind, marker in MARKERS.items():
        if (staged / marker).exists():
            return kind  # type: ignore[return-value]
    raise InputError(f"{staged} holds no tradeflows marker")  # pragma: no cover - staged_dir writes it
