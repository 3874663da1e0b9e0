"""The avatar store with damage in it: each fault is reported for its avatar alone."""

from __future__ import annotations

import json
import logging

import pytest

from avatar_gateway.store import (
    AvatarDamagedError,
    AvatarMedia,
    AvatarMediaMissingError,
    AvatarNotFoundError,
    AvatarRecord,
    AvatarStore,
)

HEALTHY, DAMAGED = "00000000000000aa", "00000000000000bb"


def _save(store: AvatarStore, avatar_id: str, created: float) -> None:
    record = AvatarRecord(avatar_id, f"avatar {avatar_id}", created, "c0ffee", 64, 48)
    store.save(record, AvatarMedia(b"photo", b"mp4", b"GIF89a"))


@pytest.fixture
def store(tmp_path) -> AvatarStore:
    store = AvatarStore(tmp_path / "avatars")
    _save(store, HEALTHY, 1.0)
    _save(store, DAMAGED, 2.0)
    return store


def _damage(store: AvatarStore, fault: str) -> None:
    directory = store.root / DAMAGED
    if fault == "meta.json not JSON":
        (directory / "meta.json").write_text('{"avatar_id": "00000000000000bb", "disp')
    elif fault == "meta.json of another avatar":
        meta = json.loads((directory / "meta.json").read_text())
        (directory / "meta.json").write_text(json.dumps({**meta, "avatar_id": HEALTHY}))
    elif fault == "meta.json with a wrong type":
        meta = json.loads((directory / "meta.json").read_text())
        (directory / "meta.json").write_text(json.dumps({**meta, "frame_width": "wide"}))
    elif fault == "meta.json a directory":
        (directory / "meta.json").unlink()
        (directory / "meta.json").mkdir()
    elif fault == "photo missing":
        (directory / "photo").unlink()
    elif fault == "empty directory":
        for path in directory.iterdir():
            path.unlink()


FAULTS = {
    "meta.json not JSON": "its record is not valid JSON",
    "meta.json of another avatar": "its record belongs to another avatar",
    "meta.json with a wrong type": "its record has no valid frame_width",
    "meta.json a directory": "its record is unreadable",
    "photo missing": "its photo is missing",
    "empty directory": "its record is missing",
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_damaged_avatar_is_left_out_of_the_list_and_reported_by_name(store, fault, caplog):
    _damage(store, fault)
    with caplog.at_level(logging.WARNING, logger="avatar_gateway.store"):
        assert [record.avatar_id for record in store.list()] == [HEALTHY]
        assert [record.avatar_id for record in store.list()] == [HEALTHY]
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and DAMAGED in lines[0], lines  # one line, not one per call
    with pytest.raises(AvatarDamagedError) as caught:
        store.get(DAMAGED)
    message = str(caught.value)
    assert FAULTS[fault] in message
    assert f"avatar {DAMAGED} is damaged" in message and "create it again" in message
    assert str(store.root) not in message and "Error" not in message
    assert store.get(HEALTHY).display_name == f"avatar {HEALTHY}"
    store.delete(DAMAGED)  # a damaged avatar can still be deleted
    with pytest.raises(AvatarNotFoundError):
        store.get(DAMAGED)


@pytest.mark.parametrize(("name", "what"), [("idle.mp4", "idle clip"), ("poster.gif", "poster")])
def test_missing_idle_media_is_reported_as_restorable_and_restored(store, name, what):
    (store.root / DAMAGED / name).unlink()
    assert [record.avatar_id for record in store.list()] == [HEALTHY, DAMAGED]
    with pytest.raises(AvatarMediaMissingError) as caught:
        store.media(DAMAGED)
    assert caught.value.missing == (what,)
    store.save_idle_media(DAMAGED, b"new mp4", b"GIF89a new")
    assert store.media(DAMAGED) == AvatarMedia(b"photo", b"new mp4", b"GIF89a new")


def test_entries_that_are_not_avatars_are_skipped(store, caplog):
    (store.root / "notes.txt").write_text("not an avatar")
    (store.root / "0123456789abcdef").write_text("a file with an avatar's name")
    (store.root / ".conversations.sqlite3").write_bytes(b"the store's own")
    (store.root / ".tmp-00000000000000cc-1234").mkdir()
    with caplog.at_level(logging.WARNING, logger="avatar_gateway.store"):
        assert [record.avatar_id for record in store.list()] == [HEALTHY, DAMAGED]
    named = " ".join(record.getMessage() for record in caplog.records)
    assert "notes.txt" in named and "0123456789abcdef" in named and ".tmp" not in named
    with pytest.raises(AvatarNotFoundError):
        store.get("0123456789abcdef")
