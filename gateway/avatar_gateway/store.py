"""The avatar store: one directory per avatar holding the photo and prepared media.

Layout: ``<root>/<avatar_id>/{photo, meta.json, idle.mp4, poster.gif}``. An avatar
is written to a temporary directory and renamed into place, so readers never see a
half-written one. Identifiers are checked against a strict pattern before they
touch the file system, so no identifier can reach outside the store.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

# fullmatch, not match with "$": "$" also matches before a trailing newline.
_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
# How much of a bad identifier an error message repeats: ids can be megabytes long.
_ID_SHOWN_CHARS = 40


class AvatarNotFoundError(LookupError):
    """No avatar has the given identifier."""


def _unknown(avatar_id: str) -> AvatarNotFoundError:
    shown = avatar_id if len(avatar_id) <= _ID_SHOWN_CHARS else avatar_id[:_ID_SHOWN_CHARS] + "..."
    if _ID_PATTERN.fullmatch(avatar_id):
        return AvatarNotFoundError(f"unknown avatar {shown!r}")
    return AvatarNotFoundError(
        f"unknown avatar {shown!r}: avatar ids are 16 lowercase hexadecimal digits"
    )


@dataclass(frozen=True, slots=True)
class AvatarRecord:
    """What the store keeps about an avatar besides its media files.

    Attributes:
        avatar_id: 16 lowercase hex digits.
        display_name: Name given at creation.
        created_unix_seconds: Creation time.
        content_hash: SHA-256 of the photo, as the animator names it.
        frame_width: Width of the avatar's frames.
        frame_height: Height of the avatar's frames.
        warnings: Notes for the user from face preparation.
    """

    avatar_id: str
    display_name: str
    created_unix_seconds: float
    content_hash: str
    frame_width: int
    frame_height: int
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AvatarMedia:
    """An avatar's files."""

    photo: bytes
    idle_clip_mp4: bytes
    poster_gif: bytes


class AvatarStore:
    """Avatars in a directory (a local one, or a shared volume when scaled out).

    Args:
        root: The store's directory; created when missing.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def new_id() -> str:
        """Returns a fresh avatar identifier."""
        return uuid.uuid4().hex[:16]

    def _directory(self, avatar_id: str) -> Path:
        if not _ID_PATTERN.fullmatch(avatar_id or ""):
            raise _unknown(avatar_id or "")
        directory = self.root / avatar_id
        if not (directory / "meta.json").is_file():
            raise _unknown(avatar_id)
        return directory

    def save(self, record: AvatarRecord, media: AvatarMedia) -> None:
        """Stores an avatar atomically."""
        if not _ID_PATTERN.fullmatch(record.avatar_id):
            raise ValueError(f"invalid avatar id {record.avatar_id!r}")
        staging = self.root / f".tmp-{record.avatar_id}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        (staging / "photo").write_bytes(media.photo)
        (staging / "idle.mp4").write_bytes(media.idle_clip_mp4)
        (staging / "poster.gif").write_bytes(media.poster_gif)
        (staging / "meta.json").write_text(json.dumps(asdict(record), indent=2))
        staging.rename(self.root / record.avatar_id)

    def get(self, avatar_id: str) -> AvatarRecord:
        """Returns an avatar's record; raises :class:`AvatarNotFoundError`."""
        meta = json.loads((self._directory(avatar_id) / "meta.json").read_text())
        return AvatarRecord(**meta)

    def photo(self, avatar_id: str) -> bytes:
        """Returns the avatar's photo bytes."""
        return (self._directory(avatar_id) / "photo").read_bytes()

    def media(self, avatar_id: str) -> AvatarMedia:
        """Returns the avatar's photo, idle clip and poster."""
        directory = self._directory(avatar_id)
        return AvatarMedia(
            photo=(directory / "photo").read_bytes(),
            idle_clip_mp4=(directory / "idle.mp4").read_bytes(),
            poster_gif=(directory / "poster.gif").read_bytes(),
        )

    def list(self) -> list[AvatarRecord]:
        """Returns every avatar, oldest first."""
        records = []
        for directory in self.root.iterdir():
            if _ID_PATTERN.fullmatch(directory.name) and (directory / "meta.json").is_file():
                records.append(self.get(directory.name))
        return sorted(records, key=lambda record: record.created_unix_seconds)

    def delete(self, avatar_id: str) -> None:
        """Deletes an avatar; raises :class:`AvatarNotFoundError` when unknown."""
        directory = self._directory(avatar_id)
        trash = self.root / f".trash-{avatar_id}-{uuid.uuid4().hex[:8]}"
        directory.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
