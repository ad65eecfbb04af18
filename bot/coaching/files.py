"""Files made for one person (JSON exports, progress charts): private, short-lived, forgettable.

Each person's files live in their own folder, ``<data_dir>/people/<user id>/``, made 0700, and
every file is created 0600, so no other local user can read them. User ids are never reused
(AUTOINCREMENT on SQLite, a sequence on PostgreSQL), and each file name also carries a random
part, so a name never points at anyone else. ``forget me`` removes the whole folder;
:func:`prune_files` deletes what is older than ``files_keep_hours`` (the adapters deliver a file
within seconds, the terminal chat shows its path, and nothing needs it for longer).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from datetime import datetime
from pathlib import Path

from bot.config import Settings
from bot.conversation.registry import Registry

log = logging.getLogger(__name__)
PEOPLE = "people"
# Where files went before they had a folder per person; forget still looks there.
_LEGACY = (("exports", "rebound-export-{id}-*.json"), ("charts", "progress-{id}.png"))


def person_folder(settings: Settings, user_id: int) -> Path:
    return Path(settings.data_dir) / PEOPLE / str(user_id)


def new_file(settings: Settings, user_id: int, kind: str, suffix: str, now: datetime) -> Path:
    """A fresh, unguessable path in the person's private folder (made 0700 if needed)."""
    folder = person_folder(settings, user_id)
    for part in (folder.parent, folder):
        part.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(part, 0o700)  # a folder left by an older version may be 0755
    return folder / f"{kind}-{now:%Y%m%d%H%M%S}-{secrets.token_hex(6)}{suffix}"


def open_private(path: Path) -> int:
    """Create ``path`` 0600 (whatever the umask) and return its descriptor, for writing."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)


def write_private(path: Path, data: bytes) -> None:
    with os.fdopen(open_private(path), "wb") as out:
        out.write(data)


def forget_files(settings: Settings, user_id: int) -> None:
    """Delete every file ever made for this person (their folder and any older layout)."""
    shutil.rmtree(person_folder(settings, user_id), ignore_errors=True)
    root = Path(settings.data_dir)
    for folder, pattern in _LEGACY:
        for path in (root / folder).glob(pattern.format(id=user_id)):
            path.unlink(missing_ok=True)


def prune_files(settings: Settings, now: float | None = None) -> int:
    """Delete people's files older than ``files_keep_hours``; returns how many went."""
    cutoff = (now if now is not None else time.time()) - settings.files_keep_hours * 3600
    root = Path(settings.data_dir)
    removed = 0
    candidates = [*(root / PEOPLE).glob("*/*"), *(root / "exports").glob("rebound-export-*")]
    candidates += (root / "charts").glob("progress-*.png")
    for path in candidates:
        try:
            if path.is_file() and path.stat().st_mtime <= cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    # Empty folders stay: removing one could race a turn about to write into it.
    if removed:
        log.info("deleted %d expired personal files", removed)
    return removed


def contribute(registry: Registry) -> None:
    """Expired files go in the engine's housekeeping (the core never imports the domain)."""
    registry.housekeeping.append(prune_files)
