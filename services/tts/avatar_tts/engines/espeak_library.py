"""A ctypes binding of the espeak-ng C library, located through the ``espeakng_loader`` wheel.

The wheel ships both the shared library and its data directory, so no system package is
needed. espeak-ng keeps global state (one voice, one callback, one synthesis at a time), so
the process uses a single :class:`EspeakLibrary` and every synthesis holds its lock.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# espeak_AUDIO_OUTPUT: the synth callback receives the audio inside espeak_Synth's call.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
# espeak_Initialize options: bit 0 enables phoneme events, bit 1 makes them IPA, bit 15
# returns an error instead of exiting the process when the data directory is missing.
_INITIALIZE_OPTIONS = 0x0001 | 0x0002 | 0x8000
# Milliseconds of audio per callback; small so the first audio leaves early.
_CALLBACK_BUFFER_MILLISECONDS = 50
_POSITION_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAMETER_RATE = 1
# espeak_TextToPhonemes' phoneme mode: IPA characters, no separators between phonemes.
_PHONEMES_IPA = 0x02
# Punctuation that ends a clause; a Piper voice was trained with it in the phonemes.
_CLAUSE_PUNCTUATION = ",.;:?!"

EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_PHONEME = 7


class EspeakLibraryError(RuntimeError):
    """The espeak-ng library could not be loaded, initialised or asked to speak."""


class _EventId(ctypes.Union):
    _fields_ = [  # noqa: RUF012 - ctypes declares fields this way
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    ]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` from ``speak_lib.h``."""

    _fields_ = [  # noqa: RUF012 - ctypes declares fields this way
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True, slots=True)
class EspeakEvent:
    """A word or phoneme event, copied out of the library's buffer.

    Attributes:
        kind: :data:`EVENT_WORD` or :data:`EVENT_PHONEME`.
        sample: Index of the audio sample where it starts, from the utterance start.
        text_position: 1-based character position in the text of the word it belongs to.
        length: Length of the word in characters (word events only).
        phoneme: IPA symbol with stress marks; empty for a pause (phoneme events only).
    """

    kind: int
    sample: int
    text_position: int
    length: int = 0
    phoneme: str = ""


AudioHandler = Callable[[np.ndarray, list[EspeakEvent]], bool]
"""Receives each audio buffer with its events; returns False to stop the synthesis."""


class EspeakLibrary:
    """The loaded and initialised espeak-ng library of this process.

    Args:
        library_path: Path of ``libespeak-ng``.
        data_path: Path of the ``espeak-ng-data`` directory.

    Raises:
        EspeakLibraryError: The library cannot be loaded or initialised.
    """

    def __init__(self, library_path: str, data_path: str) -> None:
        self.library_path = library_path
        self.data_path = data_path
        try:
            self._library = ctypes.CDLL(library_path)
        except OSError as error:
            raise EspeakLibraryError(f"cannot load {library_path}: {error}") from error
        self._declare_signatures()
        self.sample_rate = self._library.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS,
            _CALLBACK_BUFFER_MILLISECONDS,
            data_path.encode(),
            _INITIALIZE_OPTIONS,
        )
        if self.sample_rate <= 0:
            raise EspeakLibraryError(f"espeak_Initialize failed with data path {data_path}")
        self._lock = threading.Lock()
        self._handler: AudioHandler | None = None
        self._stopped = False
        # Kept as an attribute: the C library holds only a raw pointer to it.
        self._callback = _SynthCallback(self._on_synth)
        self._library.espeak_SetSynthCallback(self._callback)

    def _declare_signatures(self) -> None:
        library = self._library
        library.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        library.espeak_Initialize.restype = ctypes.c_int
        library.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        library.espeak_SetSynthCallback.restype = None
        library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        library.espeak_SetVoiceByName.restype = ctypes.c_int
        library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        library.espeak_SetParameter.restype = ctypes.c_int
        library.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        library.espeak_Synth.restype = ctypes.c_int
        library.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_int,
            ctypes.c_int,
        ]
        library.espeak_TextToPhonemes.restype = ctypes.c_char_p

    def has_voice(self, voice: str) -> bool:
        """Tells whether espeak-ng knows the voice (e.g. ``"en-us"``, ``"hr"``)."""
        with self._lock:
            return self._library.espeak_SetVoiceByName(voice.encode()) == 0

    def synthesize(
        self, text: str, voice: str, rate_words_per_minute: int, handler: AudioHandler
    ) -> None:
        """Speaks ``text``, calling ``handler`` with every audio buffer as it is made.

        Blocks until the synthesis ends or ``handler`` returns False; other callers wait.

        Raises:
            EspeakLibraryError: The voice is unknown or espeak-ng reports an error.
        """
        encoded = text.encode("utf-8")
        buffer = ctypes.create_string_buffer(encoded)
        with self._lock:
            if self._library.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EspeakLibraryError(f"espeak-ng has no voice {voice!r}")
            self._library.espeak_SetParameter(_PARAMETER_RATE, rate_words_per_minute, 0)
            self._handler = handler
            self._stopped = False
            try:
                status = self._library.espeak_Synth(
                    buffer, len(encoded) + 1, 0, _POSITION_CHARACTER, 0, _CHARS_UTF8, None, None
                )
            finally:
                self._handler = None
            stopped = self._stopped
        # EE_OK is 0; a stop asked for by the handler is not an error.
        if status != 0 and not stopped:
            raise EspeakLibraryError(f"espeak_Synth failed with status {status}")

    def text_to_phonemes(self, text: str, voice: str) -> list[Clause]:
        """Reads ``text`` as IPA phonemes, clause by clause, without synthesising audio.

        Raises:
            EspeakLibraryError: The voice is unknown.
        """
        encoded = text.encode("utf-8")
        buffer = ctypes.create_string_buffer(encoded)
        start = ctypes.addressof(buffer)
        pointer = ctypes.c_void_p(start)
        clauses: list[Clause] = []
        with self._lock:
            if self._library.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EspeakLibraryError(f"espeak-ng has no voice {voice!r}")
            while pointer.value:
                before = pointer.value - start
                phonemes = self._library.espeak_TextToPhonemes(
                    ctypes.byref(pointer), _CHARS_UTF8, _PHONEMES_IPA
                )
                after = pointer.value - start if pointer.value else len(encoded)
                consumed = encoded[before:after].decode("utf-8", errors="replace")
                clauses.append(
                    Clause((phonemes or b"").decode("utf-8", errors="replace"), _ending(consumed))
                )
        return [clause for clause in clauses if clause.phonemes.strip() or clause.punctuation]

    def _on_synth(self, wave, sample_count: int, events) -> int:  # noqa: ANN001 - ctypes types
        """The C callback: copies audio and events out and hands them on; 1 aborts."""
        handler = self._handler
        if handler is None or self._stopped:
            return 1
        try:
            samples = (
                np.ctypeslib.as_array(wave, shape=(sample_count,)).astype(np.int16, copy=True)
                if sample_count > 0 and wave
                else np.zeros(0, dtype=np.int16)
            )
            self._stopped = not handler(samples, _copy_events(events))
        except Exception:  # noqa: BLE001 - an exception must not cross into C; stop instead
            self._stopped = True
        return 1 if self._stopped else 0


@dataclass(frozen=True, slots=True)
class Clause:
    """One clause of a text read as phonemes.

    Attributes:
        phonemes: IPA phonemes with stress marks, words separated by spaces.
        punctuation: The punctuation mark that ended the clause (``","``, ``"."``, ``"?"``...);
            empty when the text ended without one.
    """

    phonemes: str
    punctuation: str


def _ending(consumed: str) -> str:
    """The clause punctuation in the text espeak-ng consumed for one clause.

    espeak-ng reads one character past the clause (the start of the next one), so the last
    clause punctuation in the consumed text is the one that ended it.
    """
    found = [character for character in consumed if character in _CLAUSE_PUNCTUATION]
    return found[-1] if found else ""


def _copy_events(events) -> list[EspeakEvent]:  # noqa: ANN001 - ctypes pointer
    """Copies the word and phoneme events of one callback out of the library's memory."""
    copied: list[EspeakEvent] = []
    index = 0
    while events and events[index].type != EVENT_LIST_TERMINATED:
        event = events[index]
        if event.type == EVENT_WORD:
            copied.append(EspeakEvent(EVENT_WORD, event.sample, event.text_position, event.length))
        elif event.type == EVENT_PHONEME:
            raw = bytes(event.id.string).split(b"\0", 1)[0]
            copied.append(
                EspeakEvent(
                    EVENT_PHONEME,
                    event.sample,
                    event.text_position,
                    phoneme=raw.decode("utf-8", errors="replace"),
                )
            )
        index += 1
    return copied


# The C library is process-wide state, so its one binding is too.
_SHARED: dict[str, EspeakLibrary] = {}
_SHARED_LOCK = threading.Lock()


def shared_library(library_path: str | None = None, data_path: str | None = None) -> EspeakLibrary:
    """Returns the process's espeak-ng library, loading it on first use.

    One instance per process, because the C library itself is process-global state.

    Args:
        library_path: Path of ``libespeak-ng``; the ``espeakng_loader`` wheel's by default.
        data_path: Path of ``espeak-ng-data``; the ``espeakng_loader`` wheel's by default.

    Raises:
        EspeakLibraryError: The library is missing, cannot be initialised, or was already
            loaded from other paths.
    """
    if library_path is None or data_path is None:
        try:
            import espeakng_loader
        except ImportError as error:
            raise EspeakLibraryError(
                "espeak-ng is not installed: pip install espeakng-loader (the 'tts' extra)"
            ) from error
        library_path = library_path or espeakng_loader.get_library_path()
        data_path = data_path or espeakng_loader.get_data_path()
    with _SHARED_LOCK:
        library = _SHARED.get("library")
        if library is None:
            library = _SHARED["library"] = EspeakLibrary(library_path, data_path)
        elif (library.library_path, library.data_path) != (library_path, data_path):
            raise EspeakLibraryError(
                f"espeak-ng is already loaded from {library.library_path} with data "
                f"{library.data_path}; one process can use only one"
            )
        return library
