"""Work saved between starts: arrays kept in files named by the hash of what made them.

Encoding the flows' ~1,700 examples and anchors and training the classifiers on them takes
seconds on a 2-core machine (tens of seconds when it is busy), and all of it depends only on
the weights and the flows. So a start after the first reads the results back instead of
holding up the first typed message. Files live beside the weights' hash record
($XDG_CACHE_HOME/rebound, else ~/.cache/rebound), are written 0600 and replaced atomically;
a missing, damaged or foreign file is simply computed again. A few sets are kept (one per
flows version or test folder), older ones go.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it is used: the bot runs without it
    import numpy as np

log = logging.getLogger(__name__)

KEEP = 4  # files of each kind


def directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rebound"


def digest(parts: Iterable[str | bytes]) -> str:
    """A short hex key for everything that decides an array's content."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:32]


def remembered(
    kind: str, key: str, make: Callable[[], dict[str, np.ndarray]], folder: Path | None = None
) -> dict[str, np.ndarray]:
    """The arrays ``make`` returns, from ``<kind>-<key>.npz`` when it was made before."""
    import numpy as np

    path = (folder or directory()) / f"{kind}-{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, KeyError):
        pass
    arrays = make()
    _write(path, kind, arrays)
    return arrays


def _write(path: Path, kind: str, arrays: dict[str, np.ndarray]) -> None:
    """Best effort: a read-only or full disk only means computing again next start."""
    import numpy as np

    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        older = sorted(path.parent.glob(f"{kind}-*.npz"), key=lambda p: p.stat().st_mtime)
        for old in older[: max(0, len(older) - KEEP + 1)]:
            old.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{kind}-", suffix=".npz")  # 0600
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        log.info("%s not stored (%s); computed again next start", kind, type(exc).__name__)
