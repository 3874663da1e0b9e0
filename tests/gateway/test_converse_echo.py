"""The echo rule alone: when speech heard while the avatar talks stops it (fake clock)."""

from __future__ import annotations

import numpy as np

from avatar_gateway.converse.echo import EchoGuard, rms_of

RATE = 16_000
CHUNK = 320  # 20 ms


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _tone(level: float, samples: int = CHUNK) -> bytes:
    """A 440 Hz tone whose RMS is ``level`` of full scale."""
    t = np.arange(samples) / RATE
    wave = np.sqrt(2) * level * 32767 * np.sin(2 * np.pi * 440 * t)
    return wave.astype("<i2").tobytes()


def _play_and_hear(guard: EchoGuard, clock: Clock, seconds: float, output: float, heard):
    """The avatar sends ticks of ``output`` RMS while the microphone hears ``heard(i)``."""
    chunks = round(seconds / 0.02)
    for _ in range(chunks):
        offset = round(clock.now * RATE)
        guard.note_output(output)
        guard.note_input(heard(offset), RATE, offset)
        clock.now += 0.02


def test_rms_is_a_fraction_of_full_scale():
    assert rms_of(b"") == 0.0
    assert abs(rms_of(_tone(0.1, 1600)) - 0.1) < 0.002


def test_speech_while_the_avatar_is_quiet_stops_it():
    clock = Clock()
    guard = EchoGuard(clock)
    _play_and_hear(guard, clock, 1.0, 0.0, lambda _: _tone(0.0))
    _play_and_hear(guard, clock, 0.2, 0.0, lambda _: _tone(0.05))
    assert guard.start_stops_avatar(1.0)


def test_with_no_echo_heard_yet_the_echo_counts_as_loud_as_the_avatar():
    clock = Clock()
    guard = EchoGuard(clock)
    # The avatar starts talking and its voice comes straight back, as loud.
    _play_and_hear(guard, clock, 0.3, 0.1, lambda _: _tone(0.1))
    assert not guard.start_stops_avatar(0.1)
    # A person clearly louder than the avatar stops it.
    guard = EchoGuard(clock)
    _play_and_hear(guard, clock, 0.3, 0.1, lambda _: _tone(0.2))
    assert guard.start_stops_avatar(clock.now - 0.3 + 0.02)


def test_with_echo_cancellation_a_person_of_normal_level_stops_the_avatar():
    clock = Clock()
    guard = EchoGuard(clock)
    # Two seconds of the avatar talking; the microphone hears only a faint residue.
    _play_and_hear(guard, clock, 2.0, 0.1, lambda _: _tone(0.002))
    start = clock.now
    _play_and_hear(guard, clock, 0.2, 0.1, lambda _: _tone(0.04))
    assert guard.echo_level(start) is not None and guard.echo_level(start) < 0.003
    assert guard.start_stops_avatar(start)
    # The residue itself is no person.
    start = clock.now
    _play_and_hear(guard, clock, 0.2, 0.1, lambda _: _tone(0.002))
    assert not guard.start_stops_avatar(start)


def test_a_pause_of_the_avatar_inside_its_echo_teaches_nothing():
    clock = Clock()
    guard = EchoGuard(clock)
    # The echo is heard as speech, then a half-second pause, then the echo again.
    guard.note_speech(0.0)
    _play_and_hear(guard, clock, 2.0, 0.1, lambda _: _tone(0.1))
    guard.note_speech(0.0, 2.0)
    _play_and_hear(guard, clock, 0.5, 0.0, lambda _: _tone(0.0))
    start = clock.now
    _play_and_hear(guard, clock, 0.2, 0.1, lambda _: _tone(0.1))
    assert guard.echo_level(start) is None
    assert not guard.start_stops_avatar(start)


def test_the_avatars_own_words_are_echo_and_other_words_are_not():
    clock = Clock()
    guard = EchoGuard(clock)
    guard.note_spoken("Glue the sheet to the dark blue background.")
    assert guard.is_echo("glue the sheet to the dark")
    assert not guard.is_echo("Rice is often served in round bowls.")
    assert not guard.is_echo("")
    clock.now += 60.0  # long forgotten
    guard.note_spoken("Something else.")
    assert not guard.is_echo("glue the sheet to the dark")
