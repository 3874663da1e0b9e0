"""Speaker samples for voice cloning: decoded and checked once, handed to models as WAV files.

Clients send a sample as WAV, MP3, OGG (Vorbis or Opus) or FLAC bytes; libsndfile (the
``soundfile`` wheel, MP3 included since libsndfile 1.1) decodes them, and anything it cannot
read (AAC/M4A, WebM...) goes through FFmpeg's decoders inside the ``av`` wheel, so no system
package is needed. Decoding here gives a clear error for bad input and lets every model read
the same clean 16-bit WAV, whatever audio libraries its own loader would need.

A sample must last :data:`MIN_SPEAKER_SAMPLE_SECONDS` to :data:`MAX_SPEAKER_SAMPLE_SECONDS`:
shorter ones do not show enough of a voice, longer ones only cost time (models use the first
seconds). Its length is checked before the audio is decoded whenever the container says it,
so a small compressed file cannot make the server decode hours of audio.
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

from avatar_tts.engines.base import InvalidSpeakerSampleError

MAX_SPEAKER_SAMPLE_SECONDS = 30.0
MIN_SPEAKER_SAMPLE_SECONDS = 3.0
_FORMATS = "WAV, MP3, OGG or FLAC"


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
        data: WAV, MP3, OGG or FLAC bytes (or any format FFmpeg reads).

    Raises:
        InvalidSpeakerSampleError: The bytes are not decodable audio, or the audio is shorter
            than :data:`MIN_SPEAKER_SAMPLE_SECONDS` or longer than
            :data:`MAX_SPEAKER_SAMPLE_SECONDS`.
    """
    if not data:
        raise InvalidSpeakerSampleError("the speaker sample is empty")
    sample = _decode_with_libsndfile(data)
    if sample is None:
        sample = _decode_with_ffmpeg(data)
    _check_duration(sample.duration_seconds)
    return sample


def _check_duration(seconds: float) -> None:
    if not MIN_SPEAKER_SAMPLE_SECONDS <= seconds <= MAX_SPEAKER_SAMPLE_SECONDS:
        raise InvalidSpeakerSampleError(
            f"the speaker sample lasts {seconds:.1f} s; send "
            f"{MIN_SPEAKER_SAMPLE_SECONDS:g}-{MAX_SPEAKER_SAMPLE_SECONDS:g} s of speech"
        )


def _decode_with_libsndfile(data: bytes) -> SpeakerSample | None:
    """Decodes with libsndfile; None when it does not know the format."""
    import soundfile

    try:
        info = soundfile.info(io.BytesIO(data))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    if info.frames > 0 and info.samplerate > 0:
        _check_duration(info.frames / info.samplerate)  # before decoding: cheap
    try:
        audio, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise InvalidSpeakerSampleError(
            f"the speaker sample is not {_FORMATS} audio that can be decoded ({error})"
        ) from error
    return SpeakerSample(samples=audio.mean(axis=1), sample_rate=int(rate))


def _decode_with_ffmpeg(data: bytes) -> SpeakerSample:
    """Decodes with FFmpeg (PyAV), stopping as soon as the audio is too long."""
    try:
        import av
    except ImportError as error:
        raise InvalidSpeakerSampleError(
            f"the speaker sample is not {_FORMATS} audio (other formats need the 'av' package)"
        ) from error
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = next((s for s in container.streams if s.type == "audio"), None)
            if stream is None or not stream.rate:
                raise InvalidSpeakerSampleError(
                    f"the speaker sample is not {_FORMATS} audio (no audio stream in it)"
                )
            return _decode_stream(container, stream, av.AudioResampler("flt", "mono", stream.rate))
    except av.FFmpegError as error:
        raise InvalidSpeakerSampleError(
            f"the speaker sample is not {_FORMATS} audio ({error})"
        ) from error


def _decode_stream(container, stream, resampler) -> SpeakerSample:  # PyAV types
    rate = int(stream.rate)
    limit = int((MAX_SPEAKER_SAMPLE_SECONDS + 1.0) * rate)
    pieces: list[np.ndarray] = []
    total = 0
    for frame in container.decode(stream):
        for converted in resampler.resample(frame):
            piece = converted.to_ndarray().reshape(-1).astype(np.float32)
            pieces.append(piece)
            total += len(piece)
        if total > limit:
            _check_duration(total / rate)  # raises: it is too long already
    for converted in resampler.resample(None):
        pieces.append(converted.to_ndarray().reshape(-1).astype(np.float32))
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return SpeakerSample(samples=np.clip(samples, -1.0, 1.0), sample_rate=rate)


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
