"""The avatar store: one directory per avatar holding the photo and prepared media.

Layout: ``<root>/<avatar_id>/{photo, meta.json, idle.mp4, poster.gif}``. An avatar
is written to a temporary directory and renamed into place, so readers never see a
half-written one. Identifiers are checked against a strict pattern before they
touch the file system, so no identifier can reach outside the store.

A store outlives crashes, full disks and hands that tidy it up, so damage is expected
and reported, never fatal: an avatar whose record or photo is missing or unreadable
raises :class:`AvatarDamagedError` (it must be created again) and is left out of
:meth:`AvatarStore.list`, with one log line naming it; a missing idle clip or poster
raises :class:`AvatarMediaMissingError`, and the gateway renders them again from the
photo. Entries that are not avatars (hidden files, stray files) are skipped. No error
message names a file-system path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# fullmatch, not match with "$": "$" also matches before a trailing newline.
_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
# How much of a bad identifier an error message repeats: ids can be megabytes long.
_ID_SHOWN_CHARS = 40
PHOTO, META, IDLE_CLIP, POSTER = "photo", "meta.json", "idle.mp4", "poster.gif"


class AvatarNotFoundError(LookupError):
    """No avatar has the given identifier."""


class AvatarDamagedError(Exception):
    """An avatar's record or photo is missing or unreadable: it must be created again.

    Attributes:
        avatar_id: The damaged avatar.
        problem: What is wrong, in words ("its photo is missing").
    """

    def __init__(self, avatar_id: str, problem: str) -> None:
        super().__init__(
            f"avatar {avatar_id} is damaged ({problem}): delete it and create it again "
            "from its photo with CreateAvatar"
        )
        self.avatar_id = avatar_id
        self.problem = problem


class AvatarMediaMissingError(Exception):
    """An avatar's idle clip or poster is missing; both can be rendered from the photo.

    Attributes:
        avatar_id: The avatar.
        missing: What is missing: "idle clip", "poster" or both.
    """

    def __init__(self, avatar_id: str, missing: tuple[str, ...]) -> None:
        super().__init__(f"avatar {avatar_id} is missing its {' and '.join(missing)}")
        self.avatar_id = avatar_id
        self.missing = missing


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
        # Damaged avatars and stray entries already logged: one line each, not one per call.
        self._reported: set[str] = set()

    @staticmethod
    def new_id() -> str:
        """Returns a fresh avatar identifier."""
        return uuid.uuid4().hex[:16]

    def _directory(self, avatar_id: str) -> Path:
        if not _ID_PATTERN.fullmatch(avatar_id or ""):
            raise _unknown(avatar_id or "")
        directory = self.root / avatar_id
        if not directory.is_dir():
            raise _unknown(avatar_id)
        return directory

    def save(self, record: AvatarRecord, media: AvatarMedia) -> None:
        """Stores an avatar atomically."""
        if not _ID_PATTERN.fullmatch(record.avatar_id):
            raise ValueError(f"invalid avatar id {record.avatar_id!r}")
        staging = self.root / f".tmp-{record.avatar_id}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        (staging / PHOTO).write_bytes(media.photo)
        (staging / IDLE_CLIP).write_bytes(media.idle_clip_mp4)
        (staging / POSTER).write_bytes(media.poster_gif)
        (staging / META).write_text(json.dumps(asdict(record), indent=2))
        staging.rename(self.root / record.avatar_id)

    def get(self, avatar_id: str) -> AvatarRecord:
        """Returns an avatar's record.

        Raises:
            AvatarNotFoundError: No such avatar.
            AvatarDamagedError: Its record or photo is missing or unreadable.
        """
        directory = self._directory(avatar_id)
        record = _read_record(directory, avatar_id)
        if not _is_nonempty_file(directory / PHOTO):
            raise AvatarDamagedError(avatar_id, "its photo is missing")
        return record

    def photo(self, avatar_id: str) -> bytes:
        """Returns the avatar's photo bytes.

        Raises:
            AvatarNotFoundError: No such avatar.
            AvatarDamagedError: The photo is missing or unreadable.
        """
        directory = self._directory(avatar_id)
        try:
            photo = (directory / PHOTO).read_bytes()
        except OSError:
            raise AvatarDamagedError(avatar_id, "its photo is missing or unreadable") from None
        if not photo:
            raise AvatarDamagedError(avatar_id, "its photo is empty")
        return photo

    def media(self, avatar_id: str) -> AvatarMedia:
        """Returns the avatar's photo, idle clip and poster.

        Raises:
            AvatarNotFoundError: No such avatar.
            AvatarDamagedError: The photo is missing or unreadable.
            AvatarMediaMissingError: The idle clip or the poster is missing.
        """
        photo = self.photo(avatar_id)
        directory = self._directory(avatar_id)
        files = {IDLE_CLIP: b"", POSTER: b""}
        for name in files:
            # A file that cannot be read is reported below, with the other if it is missing too.
            with contextlib.suppress(OSError):
                files[name] = (directory / name).read_bytes()
        missing = tuple(
            what for name, what in ((IDLE_CLIP, "idle clip"), (POSTER, "poster")) if not files[name]
        )
        if missing:
            raise AvatarMediaMissingError(avatar_id, missing)
        return AvatarMedia(photo=photo, idle_clip_mp4=files[IDLE_CLIP], poster_gif=files[POSTER])

    def save_idle_media(self, avatar_id: str, idle_clip_mp4: bytes, poster_gif: bytes) -> None:
        """Replaces an avatar's idle clip and poster, each file atomically."""
        directory = self._directory(avatar_id)
        for name, data in ((IDLE_CLIP, idle_clip_mp4), (POSTER, poster_gif)):
            staging = directory / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
            staging.write_bytes(data)
            os.replace(staging, directory / name)

    def list(self) -> list[AvatarRecord]:
        """Returns every usable avatar, oldest first; damaged ones are logged and left out."""
        records = []
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith("."):
                continue  # the store's own: staging, trash, the embedded conversation store
            if not (_ID_PATTERN.fullmatch(entry.name) and entry.is_dir()):
                self._report_once(entry.name, "%r in the avatar store is not an avatar; skipped")
                continue
            try:
                records.append(self.get(entry.name))
            except AvatarDamagedError as error:
                self._report_once(
                    entry.name,
                    "avatar %s is damaged (%s); it is left out of the list until it is "
                    "deleted and created again",
                    error.problem,
                )
            except AvatarNotFoundError:
                continue  # deleted meanwhile
            else:
                self._reported.discard(entry.name)
        return sorted(records, key=lambda record: record.created_unix_seconds)

    def delete(self, avatar_id: str) -> None:
        """Deletes an avatar, damaged or not; raises :class:`AvatarNotFoundError` when unknown."""
        directory = self._directory(avatar_id)
        trash = self.root / f".trash-{avatar_id}-{uuid.uuid4().hex[:8]}"
        directory.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        self._reported.discard(avatar_id)

    def _report_once(self, name: str, message: str, *details: object) -> None:
        if name not in self._reported:
            self._reported.add(name)
            log.warning(message, name, *details)


def _is_nonempty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def _read_record(directory: Path, avatar_id: str) -> AvatarRecord:
    """The avatar's record, checked field by field.

    Raises:
        AvatarDamagedError: The record is missing, unreadable or not an avatar's record.
    """
    try:
        text = (directory / META).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AvatarDamagedError(avatar_id, "its record is missing") from None
    except (OSError, UnicodeDecodeError):
        raise AvatarDamagedError(avatar_id, "its record is unreadable") from None
    try:
        meta = json.loads(text)
    except ValueError:
        raise AvatarDamagedError(avatar_id, "its record is not valid JSON") from None
    problem = _record_problem(meta, avatar_id)
    if problem:
        raise AvatarDamagedError(avatar_id, f"its record {problem}")
    return AvatarRecord(**{name: meta[name] for name in _FIELDS if name in meta})


# Each field of a record and the types its JSON value may have.
_FIELDS: dict[str, tuple[type, ...]] = {
    "avatar_id": (str,),
    "display_name": (str,),
    "created_unix_seconds": (int, float),
    "content_hash": (str,),
    "frame_width": (int,),
    "frame_height": (int,),
    "warnings": (list,),
}


def _record_problem(meta: Any, avatar_id: str) -> str:
    if not isinstance(meta, dict):
        return "is not a JSON object"
    for name, types in _FIELDS.items():
        if name == "warnings" and name not in meta:
            continue
        value = meta.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            return f"has no valid {name}"
    if meta["avatar_id"] != avatar_id:
        return "belongs to another avatar"
    if meta["frame_width"] <= 0 or meta["frame_height"] <= 0 or not meta["content_hash"]:
        return "has no valid frame size or content hash"
    if not all(isinstance(warning, str) for warning in meta.get("warnings", [])):
        return "has no valid warnings"
    return ""
