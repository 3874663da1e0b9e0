"""Live sessions (``Converse``): one clock, the idle loop, turns, interrupts.

:mod:`.host` opens sessions (cap, config, avatar, voice, idle loop); :mod:`.session`
plays one on the clock of :mod:`.clock`; :mod:`.turn` runs each turn's Speak pipeline
into the buffer of :mod:`.speech`; :mod:`.idle` renders and caches the idle loops.
"""

from avatar_gateway.converse.host import RETRY_AFTER_METADATA, SessionHost
from avatar_gateway.converse.session import ConverseSession
from avatar_gateway.converse.settings import SessionError, SessionSettings

__all__ = [
    "RETRY_AFTER_METADATA",
    "ConverseSession",
    "SessionError",
    "SessionHost",
    "SessionSettings",
]
