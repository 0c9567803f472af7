"""Files that are whole or absent: atomic file writes and staged output folders, with one rule for foreign folders.

Every writer of tradeflows goes through here: the store's chunks and manifest
(:func:`atomic_write`), the analysis tables (``analyze(out=...)``,
``tradeflows analyze``) and the report folder (:func:`staged_dir`).

- A file is written to a temporary file beside it, flushed, fsynced and
  renamed over its name, so it holds its old or its new content, never half.
- An output folder is built beside its destination and swapped in by rename
  only when complete; the earlier folder is moved aside first and removed
  after the swap, so a failure at any step leaves the earlier output whole.
- The one rule for an output folder: its parent must exist, and if it exists
  it must be empty or hold the marker file of an earlier tradeflows output of
  the same kind (``.tradeflows-report``, ``.tradeflows-analysis``). A folder
  holding someone else's files is refused, never replaced.

Files and folders get the permissions of the user's umask, like any file the
user makes (``tempfile`` alone would create them 0600/0700).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Literal

from .errors import InputError

OutputKind = Literal["report", "analysis"]
MARKERS: dict[str, str] = {"report": ".tradeflows-report", "analysis": ".tradeflows-analysis"}
TMP_SUFFIX = ".tmp"


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
    """Write ``data`` (bytes, text, or a function writing text to a file) to ``path`` atomically."""
    path = Path(path)
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

    ``out`` is checked first (:func:`check_out_dir`). The marker file is
    written into the staged folder, so the result may be replaced next time.
    """
    target = check_out_dir(out, kind)
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


def _swap(staged: Path, target: Path) -> None:
    """Put ``staged`` at ``target``: the old folder is renamed aside, the new one renamed in, the old removed."""
    check_out_dir(target, _kind_of(staged))  # the folder may have changed while the output was built
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
