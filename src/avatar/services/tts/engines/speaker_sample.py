"""Speaker samples for voice cloning: decoded and checked once, handed to models as WAV files.

Clients send a sample as WAV, MP3, OGG or FLAC bytes. Decoding it here gives a clear error for
bad input and lets every model read the same clean 16-bit WAV, whatever audio libraries its
own loader would need for the original format.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import wave
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from avatar.services.tts.engines.base import InvalidSpeakerSampleError

MAX_SPEAKER_SAMPLE_SECONDS = 60.0
MIN_SPEAKER_SAMPLE_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class SpeakerSample:
    """A decoded speaker sample.

    Attributes:
        samples: Mono audio as float32 in [-1, 1].
        sample_rate: Its sample rate, Hz.
    """

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_seconds(self) -> float:
        """Length of the sample."""
        return len(self.samples) / self.sample_rate


def decode_speaker_sample(data: bytes) -> SpeakerSample:
    """Decodes an encoded speaker sample to mono float audio.

    Args:
        data: WAV, MP3, OGG or FLAC bytes.

    Raises:
        InvalidSpeakerSampleError: The bytes are not decodable audio, or the audio is shorter
            than :data:`MIN_SPEAKER_SAMPLE_SECONDS` or longer than
            :data:`MAX_SPEAKER_SAMPLE_SECONDS`.
    """
    import soundfile

    try:
        audio, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise InvalidSpeakerSampleError(
            f"the speaker sample is not WAV, MP3, OGG or FLAC audio ({error})"
        ) from error
    sample = SpeakerSample(samples=audio.mean(axis=1), sample_rate=int(rate))
    if not MIN_SPEAKER_SAMPLE_SECONDS <= sample.duration_seconds <= MAX_SPEAKER_SAMPLE_SECONDS:
        raise InvalidSpeakerSampleError(
            f"the speaker sample lasts {sample.duration_seconds:.1f} s; send "
            f"{MIN_SPEAKER_SAMPLE_SECONDS:g}-{MAX_SPEAKER_SAMPLE_SECONDS:g} s of speech"
        )
    return sample


@contextlib.contextmanager
def speaker_wav_file(sample: SpeakerSample | None) -> Iterator[str | None]:
    """Writes a sample to a temporary 16-bit WAV file (models read samples from paths).

    Yields:
        The file's path, or None when there is no sample; the file is removed afterwards.
    """
    if sample is None:
        yield None
        return
    handle, path = tempfile.mkstemp(prefix="avatar-speaker-", suffix=".wav")
    try:
        pcm = np.round(np.clip(sample.samples, -1.0, 1.0) * 32767).astype("<i2")
        with os.fdopen(handle, "wb") as file, wave.open(file, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(sample.sample_rate)
            writer.writeframes(pcm.tobytes())
        yield path
    finally:
        os.unlink(path)
