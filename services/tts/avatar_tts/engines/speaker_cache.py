"""Cloned voices cached by speaker-sample hash, so a sample sent again skips its decoding and
the speaker encoder.

Cloning models turn a sample into a speaker embedding (YourTTS's d-vector) or conditioning
latents (XTTS). coqui saves such a voice as ``<voice_dir>/<name>.pth`` when given a name, and
loads it back when given the name without a sample; this cache picks the names (the hash of
the model and the sample bytes), keeps their files in a private temporary folder and forgets
the least recently used ones beyond its capacity.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

_PREFIX = "sample-"


class SpeakerCache:
    """Names and files of cloned voices, least recently used forgotten first.

    Args:
        capacity: Most voices kept.
        on_lookup: Called with True for a hit and False for a miss (metrics).
    """

    def __init__(self, capacity: int = 64, on_lookup: Callable[[bool], None] | None = None) -> None:
        self._capacity = max(1, capacity)
        self._on_lookup = on_lookup
        self._folder = tempfile.TemporaryDirectory(prefix="avatar-voices-")
        self._names: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def directory(self) -> str:
        """The folder coqui saves the voices in (its ``voice_dir``)."""
        return self._folder.name

    @staticmethod
    def name_of(model: str, sample: bytes) -> str:
        """The voice name of ``sample`` cloned by ``model``: a hash of both."""
        digest = hashlib.sha256(model.encode() + b"\0" + sample).hexdigest()
        return _PREFIX + digest[:40]

    def lookup(self, name: str) -> bool:
        """Whether the voice is cached (it becomes the most recently used); counted."""
        with self._lock:
            hit = name in self._names and (Path(self.directory) / f"{name}.pth").exists()
            if hit:
                self._names.move_to_end(name)
                self.hits += 1
            else:
                self.misses += 1
        if self._on_lookup is not None:
            self._on_lookup(hit)
        return hit

    def stored(self, name: str) -> None:
        """Records that coqui saved the voice ``name``; forgets the oldest beyond capacity."""
        with self._lock:
            self._names[name] = None
            self._names.move_to_end(name)
            while len(self._names) > self._capacity:
                oldest, _ = self._names.popitem(last=False)
                (Path(self.directory) / f"{oldest}.pth").unlink(missing_ok=True)
