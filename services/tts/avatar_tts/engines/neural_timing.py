"""Where a neural voice's durations put time that belongs to a neighbouring sound.

The models give every input token a duration, including tokens that are not sounds: stress
marks (written before the vowel they stress), spaces between words, pads, punctuation. The
time of a stress mark or a space is the onset of the sound after it (the models start the
next sound during it), so it moves there. And the models park silence on the tokens at the
edges of a phrase (the leading pad, the last sound before the final punctuation), so the
boundaries between sounds and pauses are moved to where the audio really falls silent or
starts again, within the two spans that meet there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from avatar_core.timing import Phoneme
from avatar_tts.engines.coqui_timing import PAUSE_SYMBOL, TokenDuration

_ONSET_MARKS = frozenset({"ˈ", "ˌ", " "})
_WINDOW_SECONDS = 0.005
# A window is silent below this share of the phrase's loud level (its 90th percentile).
_SILENCE_SHARE = 0.05
_MIN_SOUND_SECONDS = 0.02
_MIN_PAUSE_SECONDS = 0.01
# Silence shorter than this is a stop's closure, not a pause.
_SILENT_RUN_WINDOWS = 3
# How far into a sound after a pause its onset may be looked for.
_REACH_SECONDS = 0.1


def move_onset_time(
    tokens: Sequence[TokenDuration], special: frozenset[str]
) -> list[TokenDuration]:
    """Gives the frames of stress marks and spaces (and of pads after them) to the next sound.

    The marks themselves stay, with no frames, so stress and word boundaries still count.
    """
    moved = list(tokens)
    carried = 0.0
    carrying = False
    for index, token in enumerate(moved):
        if token.symbol in _ONSET_MARKS or (carrying and token.symbol in special):
            carried += token.frames
            carrying = True
            moved[index] = TokenDuration(token.symbol, 0.0)
        elif carrying:
            moved[index] = TokenDuration(token.symbol, token.frames + carried)
            carried, carrying = 0.0, False
    if carrying and moved:
        # Nothing follows: the time stays at the end, on the last token.
        last = moved[-1]
        moved[-1] = TokenDuration(last.symbol, last.frames + carried)
    return moved


def fit_pauses_to_audio(
    phonemes: list[Phoneme], samples: np.ndarray, sample_rate: int
) -> list[Phoneme]:
    """Moves each sound/pause boundary to where the audio goes silent or starts again.

    A boundary moves only within the sound and the pause that meet at it, and both keep a
    minimal length. A pause between two sounds with no silence in it is no pause: the sounds
    on either side share its time.

    Args:
        phonemes: A contiguous track of one phrase, from 0 to the end of ``samples``.
        samples: The phrase's audio.
        sample_rate: Its sample rate.

    Returns:
        The track with the same phonemes, boundaries moved; still contiguous.
    """
    loud = _loud_windows(samples, sample_rate)
    if loud is None or len(phonemes) < 2:
        return phonemes
    fitted = _drop_voiced_pauses(list(phonemes), loud)
    for index in range(1, len(fitted)):
        before, after = fitted[index - 1], fitted[index]
        if (before.symbol == PAUSE_SYMBOL) == (after.symbol == PAUSE_SYMBOL):
            continue
        boundary = _audio_boundary(loud, before, after, sound_first=after.symbol == PAUSE_SYMBOL)
        if boundary is not None:
            fitted[index - 1] = replace(before, end_seconds=boundary)
            fitted[index] = replace(after, start_seconds=boundary)
    return fitted


def _drop_voiced_pauses(phonemes: list[Phoneme], loud: np.ndarray) -> list[Phoneme]:
    kept: list[Phoneme] = []
    for index, phoneme in enumerate(phonemes):
        inner = 0 < index < len(phonemes) - 1
        first = int(phoneme.start_seconds / _WINDOW_SECONDS)
        last = int(np.ceil(phoneme.end_seconds / _WINDOW_SECONDS))
        if inner and phoneme.symbol == PAUSE_SYMBOL and not _silent_runs(loud[first:last]):
            middle = (phoneme.start_seconds + phoneme.end_seconds) / 2
            kept[-1] = replace(kept[-1], end_seconds=middle)
            following = phonemes[index + 1]
            phonemes[index + 1] = replace(following, start_seconds=middle)
            continue
        kept.append(phoneme)
    return kept


def _loud_windows(samples: np.ndarray, sample_rate: int) -> np.ndarray | None:
    """Whether each 5 ms window of the audio is loud; None for audio too short or silent."""
    size = max(1, round(_WINDOW_SECONDS * sample_rate))
    count = len(samples) // size
    if count < 4:
        return None
    windows = samples[: count * size].astype(np.float64).reshape(count, size)
    levels = np.sqrt(np.mean(windows**2, axis=1))
    loud_level = float(np.percentile(levels, 90))
    if loud_level <= 0:
        return None
    return levels > _SILENCE_SHARE * loud_level


def _silent_runs(loud: np.ndarray) -> list[tuple[int, int]]:
    """(first, end) window indexes of the runs of silent windows long enough to be a pause."""
    runs, start = [], None
    for index, is_loud in enumerate([*loud.tolist(), True]):
        if not is_loud and start is None:
            start = index
        elif is_loud and start is not None:
            if index - start >= _SILENT_RUN_WINDOWS:
                runs.append((start, index))
            start = None
    return runs


def _audio_boundary(
    loud: np.ndarray, before: Phoneme, after: Phoneme, *, sound_first: bool
) -> float | None:
    """Where the audio changes between sound and silence around one boundary, or None.

    Sound then pause: where the first silence after the sound's start begins. Pause then
    sound: where the last silence before the sound (at most :data:`_REACH_SECONDS` into it)
    ends. Both spans keep their minimal lengths.
    """
    if sound_first:
        lowest = before.start_seconds + _MIN_SOUND_SECONDS
        highest = after.end_seconds - _MIN_PAUSE_SECONDS
    else:
        lowest = before.start_seconds + _MIN_PAUSE_SECONDS
        highest = min(after.end_seconds - _MIN_SOUND_SECONDS, after.start_seconds + _REACH_SECONDS)
    first = int(np.ceil(lowest / _WINDOW_SECONDS))
    last = min(int(highest / _WINDOW_SECONDS), len(loud))
    if last - first < _SILENT_RUN_WINDOWS:
        return None
    runs = _silent_runs(loud[first:last])
    if not runs:
        return None
    index = runs[0][0] if sound_first else runs[-1][1]
    return float(min(max((first + index) * _WINDOW_SECONDS, lowest), highest))
