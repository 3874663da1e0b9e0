"""The parts of a live session alone: the clock, the speech buffer, the idle loop cache,
and a whole session over fake downstream clients on a fast clock."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

import grpc
import pytest

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.converse.clock import SessionClock
from avatar_gateway.converse.idle import IdleLoopCache, IdleLoopKey
from avatar_gateway.converse.session import (
    AUDIO_AHEAD_SECONDS,
    FRAME_BATCH,
    PICTURE_WAIT_SECONDS,
    SPEECH_AHEAD_SECONDS,
)
from avatar_gateway.converse.settings import SessionError
from avatar_gateway.converse.speech import SampleRateMismatchError, SpeechBuffer
from avatar_gateway.converse.turn import Turn
from tests.gateway.session_harness import SessionClient, clients_of, session_of
from tests.support.stage_harness import PLAN, RATE, FakeAnimator, FakeTts, samples_of

FPS = 25.0
SLOT = RATE // 25  # samples per frame at 16 kHz and 25 fps


# The clock ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fps", "rate"), [(25.0, 24_000), (24.0, 22_050), (30.0, 44_100)])
def test_slots_are_gapless_and_add_up_to_the_clock(fps, rate):
    clock = SessionClock(fps, rate)
    starts = [clock.slot_start(k) for k in range(1000)]
    assert starts[0] == 0
    for k in range(999):
        assert starts[k] + clock.slot_samples(k) == starts[k + 1]
    assert abs(starts[-1] - 999 * rate / fps) <= 0.5


def test_ticks_are_due_a_lead_ahead_of_their_time():
    now = [100.0]
    clock = SessionClock(25.0, 16_000, lead_seconds=0.1, now=lambda: now[0])
    clock.start()  # frame 0 plays at 100.1
    assert clock.wait_seconds(0) == pytest.approx(0.0)
    assert clock.wait_seconds(5) == pytest.approx(0.2)
    now[0] = 100.3
    assert clock.position_seconds() == pytest.approx(0.2)
    assert clock.wait_seconds(8) == pytest.approx(0.02)  # plays at 0.32, sent at 0.22
    assert clock.wait_seconds(7) < 0


# The speech buffer -------------------------------------------------------------------


def _frames(count: int) -> gateway_pb2.SpeakResponse:
    frames = [media_pb2.Frame(index=i, data=b"f%d" % i) for i in range(count)]
    return gateway_pb2.SpeakResponse(frames=media_pb2.FrameBatch(frames=frames))


def _audio(samples: int, offset: int = 0, rate: int = RATE) -> gateway_pb2.SpeakResponse:
    pcm = bytes(range(256)) * (2 * samples // 256) + bytes(2 * samples % 256)
    chunk = media_pb2.AudioChunk(pcm=pcm, sample_rate=rate, sample_offset=offset)
    return gateway_pb2.SpeakResponse(audio=chunk)


def _sentence(index: int, start_samples: int) -> gateway_pb2.SpeakResponse:
    sentence = gateway_pb2.Sentence(
        index=index, text=f"s{index}", start_seconds=start_samples / RATE
    )
    return gateway_pb2.SpeakResponse(sentence=sentence)


def _take(buffer: SpeechBuffer):
    """One tick: the next frame and exactly a slot of audio, with its sentences."""
    frame = buffer.take_frame()
    pcm, sentences = buffer.take_audio(SLOT)
    return frame, pcm, sentences


def _ready(buffer: SpeechBuffer) -> bool:
    return buffer.has_frame and buffer.audio_ready(SLOT)


async def test_each_tick_takes_a_frame_and_exactly_its_slot_of_audio():
    buffer = SpeechBuffer(RATE, FPS)
    await buffer.put(_sentence(0, 0))
    await buffer.put(_audio(3 * SLOT - 10))
    await buffer.put(_frames(3))
    await buffer.put(_sentence(1, 3 * SLOT))
    assert _ready(buffer)
    frame, pcm, sentences = _take(buffer)
    assert (frame.data, len(pcm), [s.text for _, s in sentences]) == (b"f0", 2 * SLOT, ["s0"])
    _take(buffer)
    assert not _ready(buffer)  # 630 samples left for a slot of 640: wait for more
    buffer.finish()
    assert _ready(buffer)
    _, last, _ = _take(buffer)
    assert len(last) == 2 * SLOT and last.endswith(bytes(20))  # padded at the end
    assert buffer.exhausted and buffer.played_samples == 3 * SLOT - 10
    assert buffer.frames_ahead == 0


async def test_a_sentence_is_due_in_the_tick_where_it_begins():
    buffer = SpeechBuffer(RATE, FPS)
    await buffer.put(_audio(4 * SLOT))
    await buffer.put(_frames(4))
    await buffer.put(_sentence(0, 0))
    await buffer.put(_sentence(1, 2 * SLOT + 100))
    due = [[(start, s.text) for start, s in _take(buffer)[2]] for _ in range(4)]
    assert due == [[(0, "s0")], [], [(100, "s1")], []]


async def test_a_sentence_begins_with_its_picture_and_one_taken_back_never_does():
    turn = Turn(1, gateway_pb2.ConverseTurn(text="s0 s1"), PLAN, 0.0, RATE)
    await turn.buffer.put(_audio(4 * SLOT))
    await turn.buffer.put(_sentence(0, 0))
    await turn.buffer.put(_sentence(1, 2 * SLOT + 100))
    for frame in (10, 11, 12):  # the audio of three ticks goes ahead of their pictures
        turn.take_audio(frame, SLOT)
    assert turn.take_sentences(9) == [] and turn.spoken_text() == ""
    begun = turn.take_sentences(10)
    assert [(frame, start, s.text) for frame, start, s in begun] == [(10, 0, "s0")]
    assert turn.take_sentences(11) == []
    turn.withdraw(12, SLOT)  # stopped before the picture of frame 12: s1 never plays
    assert turn.take_sentences(12) == []
    assert turn.spoken_text() == "s0" and turn.end_frame == 12


async def test_the_buffer_holds_the_pipeline_back_beyond_its_limit():
    buffer = SpeechBuffer(RATE, FPS, limit_seconds=0.2)  # 5 frames
    await buffer.put(_audio(10 * SLOT))
    put = asyncio.create_task(buffer.put(_frames(10)))
    await asyncio.sleep(0.05)
    assert not put.done()  # 0.4 s of both audio and frames ahead: waits
    for _ in range(5):
        _take(buffer)
    await asyncio.wait_for(put, 1.0)


async def test_audio_at_another_rate_is_refused():
    buffer = SpeechBuffer(24_000, FPS)
    with pytest.raises(SampleRateMismatchError, match="16000 Hz; the session runs at 24000"):
        await buffer.put(_audio(100, rate=16_000))


# The idle loop cache -----------------------------------------------------------------


async def test_one_render_serves_every_session_asking_at_once():
    animator = FakeAnimator()
    cache = IdleLoopCache(clients_of(animator=animator), idle_seconds=0.4, max_bytes=10_000)
    key = IdleLoopKey("c0ffee", FPS, media_pb2.FRAME_ENCODING_JPEG, False)
    loops = await asyncio.gather(*(cache.get(key, b"photo") for _ in range(5)))
    assert animator.calls == 1 and all(loop is loops[0] for loop in loops)
    assert len(loops[0].frames) == cache.loop_frames(FPS) == 10
    assert animator.configs[0].loop_frames == 10
    assert [loops[0].frame(k).index for k in (0, 13)] == [0, 13]
    assert loops[0].frame(13).data == loops[0].frames[3]
    await cache.get(key, b"photo")
    assert animator.calls == 1


async def test_the_cache_drops_the_least_recently_used_loop_beyond_its_memory():
    animator = FakeAnimator()
    # FakeAnimator frames are 5 bytes: a loop of 10 frames takes 50.
    cache = IdleLoopCache(clients_of(animator=animator), idle_seconds=0.4, max_bytes=120)
    keys = [IdleLoopKey(f"avatar{i}", FPS, media_pb2.FRAME_ENCODING_JPEG, False) for i in range(3)]
    await cache.get(keys[0], b"photo")
    await cache.get(keys[1], b"photo")
    await cache.get(keys[0], b"photo")  # 0 is now the most recently used
    await cache.get(keys[2], b"photo")  # 150 bytes > 120: 1 goes
    assert len(cache) == 2 and cache.nbytes == 100
    calls = animator.calls
    await cache.get(keys[0], b"photo")
    assert animator.calls == calls
    await cache.get(keys[1], b"photo")
    assert animator.calls == calls + 1


# A whole session over fakes ----------------------------------------------------------


async def test_a_turn_plays_between_idle_frames_placed_where_the_animator_was_told(chat_turns):
    client, animator = SessionClient(), FakeAnimator()
    session = asyncio.create_task(
        session_of(client, clients_of(animator=animator), chat_turns).run()
    )
    await client.wait_for(lambda: len(client.frames()) >= 5)
    client.turn("One two three. Four five.")
    await client.wait_for(lambda: client.ended())
    client.inbox.put_nowait(None)
    await asyncio.wait_for(session, 10)

    frames = client.frames()
    assert [f.index for _, f in frames] == list(range(len(frames)))
    (ended,) = client.ended()
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE
    speech = [f for turn, f in frames if turn == 1]
    assert len(speech) == ended.end_frame - ended.start_frame
    # Every frame the fake animator made played once (a hold, if any, repeats one).
    made = sum(
        math.ceil(samples_of(text) * FPS / RATE) for text in ("One two three.", "Four five.")
    )
    assert ended.summary.frames == made <= len(speech)
    assert ended.summary.audio_seconds == pytest.approx(made / FPS, abs=0.001)
    # The animator was told where each sentence plays; with no hold they are exact.
    starts = [config.start_frame for config in animator.configs]
    assert starts[0] <= ended.start_frame
    assert all(config.loop_frames == 3 for config in animator.configs)
    # In small batches: the frames after the first come soon.
    assert all(config.batch_size == FRAME_BATCH for config in animator.configs)
    for turn, frame in frames:
        if turn == 0:
            assert frame.data == b"idle%d" % (frame.index % 3)


async def test_an_interrupt_cancels_the_turns_calls_and_idles_at_once(chat_turns):
    client = SessionClient()
    animator = FakeAnimator(hold_after=3)  # started, then two batches, then it hangs
    clients = clients_of(animator=animator)
    session = asyncio.create_task(session_of(client, clients, chat_turns).run())
    client.turn("One two three four five six seven eight nine ten.")
    await client.wait_for(lambda: any(turn == 1 for turn, _ in client.frames()))
    await asyncio.wait_for(animator.held.wait(), 5)
    client.interrupt()
    await client.wait_for(lambda: client.ended())
    first_after = len(client.events)
    await client.wait_for(lambda: len(client.frames()) > 0 and client.frames()[-1][0] == 0)
    client.inbox.put_nowait(None)
    await asyncio.wait_for(session, 10)

    (ended,) = client.ended()
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_INTERRUPTED
    assert ended.summary.spoken_text == "One two three four five six seven eight nine ten."
    assert animator.cancelled == 1
    # Held frames (the pipeline was behind) then, right after the end, idle.
    after = [e for e in client.events[first_after:] if e.HasField("frames")]
    assert after[0].turn == 0 and after[0].frames.frames[0].index == ended.end_frame


async def test_a_failing_tts_fails_the_turn_and_idling_goes_on(chat_turns):
    client = SessionClient()
    tts = FakeTts(fail_after=1, code=grpc.StatusCode.UNAVAILABLE)
    session = asyncio.create_task(session_of(client, clients_of(tts=tts), chat_turns).run())
    client.turn("Hello there.")
    await client.wait_for(lambda: client.ended())
    count = len(client.frames())
    await client.wait_for(lambda: len(client.frames()) >= count + 5)
    client.inbox.put_nowait(None)
    await asyncio.wait_for(session, 10)
    (ended,) = client.ended()
    assert (ended.outcome, ended.error_code) == (gateway_pb2.TURN_OUTCOME_FAILED, "UNAVAILABLE")
    assert ended.error_message == "tts stage: tts went away"
    assert {turn for turn, _ in client.frames()} == {0}


async def test_a_turns_first_speech_goes_out_as_soon_as_it_is_in_hand(chat_turns):
    # A slow clock, a tick every 2 s: the idle ticks keep that pace, but the turn's
    # first speech tick follows the idle tick before it at once, not a tick later.
    period = 2.0
    clock = SessionClock(FPS, RATE, lead_seconds=0.0, now=lambda: time.monotonic() / 50)
    client, arrivals = SessionClient(), []
    send = client.send

    async def timed_send(event: gateway_pb2.ConverseResponse) -> None:
        if event.HasField("frames"):
            arrivals.append((event.turn, time.monotonic()))
        await send(event)

    client.send = timed_send
    session = asyncio.create_task(session_of(client, clients_of(), chat_turns, clock).run())
    await client.wait_for(lambda: len(client.frames()) >= 1)
    client.turn("One.")
    await client.wait_for(lambda: any(turn == 1 for turn, _ in arrivals), timeout=3 * period)
    session.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await session

    first_speech = next(k for k, (turn, _) in enumerate(arrivals) if turn == 1)
    assert first_speech >= 1 and arrivals[first_speech - 1][0] == 0
    assert arrivals[first_speech][1] - arrivals[first_speech - 1][1] < period / 4


async def test_a_second_config_ends_the_session_with_invalid_argument(chat_turns):
    client = SessionClient()
    session = session_of(client, clients_of(), chat_turns)
    client.inbox.put_nowait(gateway_pb2.ConverseRequest(config=gateway_pb2.ConverseConfig()))
    with pytest.raises(SessionError, match="already has its config"):
        await asyncio.wait_for(session.run(), 5)


class _SlowAnimator(FakeAnimator):
    """An animator that stalls once, for ``stall`` seconds, before its answer number
    ``answer`` (the first is started; 2 is the first batch of frames)."""

    def __init__(self, stall: float, answer: int = 3, **options) -> None:
        super().__init__(**options)
        self.stall = stall
        self.answer = answer
        self._answers = 0

    async def _respond(self, response):
        self._answers += 1
        if self._answers == self.answer:
            await asyncio.sleep(self.stall)
        return await super()._respond(response)


class _LaggingAnimator(_SlowAnimator):
    """A slow animator that reads its requests as they come, as a real call does: the
    audio goes on to the client while the frames are late."""

    async def _frames(self, iterator, config):
        requests: asyncio.Queue = asyncio.Queue()

        async def read() -> None:
            async for request in iterator:
                await requests.put(request)
            await requests.put(None)

        async def queued():
            while (request := await requests.get()) is not None:
                yield request

        reader = asyncio.create_task(read())
        try:
            async for response in super()._frames(queued(), config):
                yield response
        finally:
            reader.cancel()


async def _one_turn_on_the_fast_clock(
    client: SessionClient, animator: FakeAnimator, chat_turns, text
):
    session = asyncio.create_task(
        session_of(client, clients_of(animator=animator), chat_turns).run()
    )
    client.turn(text)
    await client.wait_for(lambda: client.ended())
    client.inbox.put_nowait(None)
    await asyncio.wait_for(session, 10)


async def test_a_pipeline_that_falls_behind_holds_the_last_frame_and_plays_the_rest_later(
    chat_turns,
):
    client, text = SessionClient(), "One two three four five six."
    # The fake draws and reads in one loop: its stall holds back the audio too.
    await _one_turn_on_the_fast_clock(client, _SlowAnimator(stall=0.3), chat_turns, text)

    (ended,) = client.ended()
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE
    made = math.ceil(samples_of(text) * FPS / RATE)
    # The pictures whose audio had gone ahead when the stall began gave way to the last
    # one; the rest waited for the pipeline, with the sound. Audio goes up to
    # AUDIO_AHEAD_SECONDS before its time, a picture gives way PICTURE_WAIT_SECONDS after.
    dropped = made - ended.summary.frames
    assert 0 <= dropped <= math.ceil((AUDIO_AHEAD_SECONDS + PICTURE_WAIT_SECONDS) * FPS)
    ticks = [e for e in client.events if e.HasField("audio") and e.turn == 1]
    held = ended.end_frame - ended.start_frame - made
    assert held >= 10  # the stall, less what was buffered
    assert len(ticks) == made + held
    # Every tick of the turn still has its frame's slot of audio: one clock throughout.
    for event in ticks:
        assert len(event.audio.pcm) == 2 * SLOT


async def test_late_pictures_give_way_to_the_last_one_while_the_sound_goes_on(chat_turns):
    client, text = SessionClient(), "One two three four five six."
    late = _LaggingAnimator(stall=0.1)  # a second of the fast clock, mid-turn
    await _one_turn_on_the_fast_clock(client, late, chat_turns, text)

    (ended,) = client.ended()
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE
    made = math.ceil(samples_of(text) * FPS / RATE)
    # No tick waited: the turn took exactly its length on the clock, every tick with its
    # slot of the voice's audio, and the late pictures were dropped.
    assert ended.end_frame - ended.start_frame == made
    audio = [e.audio for e in client.events if e.HasField("audio") and e.turn == 1]
    assert [a.sample_offset for a in audio] == [(ended.start_frame + k) * SLOT for k in range(made)]
    assert all(any(a.pcm[:-2]) for a in audio)
    assert 0 < ended.summary.frames <= made - 10  # of 25 ticks stalled, most at least
    frames = client.frames()
    assert [f.index for _, f in frames] == list(range(len(frames)))  # no tick missing


async def test_an_interrupt_takes_back_the_audio_sent_ahead_of_its_pictures(chat_turns):
    client = SessionClient()
    animator = _LaggingAnimator(stall=0.0, hold_after=3)  # two batches drawn, then no more
    session = asyncio.create_task(
        session_of(client, clients_of(animator=animator), chat_turns).run()
    )
    client.turn("One two three four five six seven eight nine ten.")
    await client.wait_for(lambda: any(turn == 1 for turn, _ in client.frames()))
    await asyncio.wait_for(animator.held.wait(), 5)
    await asyncio.sleep(0.03)  # a few ticks of the fast clock: the sound goes on
    client.interrupt()
    await client.wait_for(lambda: client.ended())
    first_after = len(client.events)
    await client.wait_for(lambda: client.frames()[-1][0] == 0)
    client.inbox.put_nowait(None)
    await asyncio.wait_for(session, 10)

    (ended,) = client.ended()
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_INTERRUPTED
    before, after = client.events[:first_after], client.events[first_after:]
    sent = [e.audio.sample_offset for e in before if e.HasField("audio") and e.turn == 1]
    assert max(sent) >= ended.end_frame * SLOT  # some had gone ahead of its pictures
    # At once, before the next picture: silence for the same offsets replaces that audio.
    picture_at = next(at for at, e in enumerate(after) if e.HasField("frames"))
    replaced = [e for e in after[:picture_at] if e.HasField("audio")]
    offsets = [e.audio.sample_offset for e in replaced]
    assert offsets == list(range(ended.end_frame * SLOT, max(sent) + 1, SLOT))
    assert all(e.turn == 0 and not any(e.audio.pcm) for e in replaced)
    picture = after[picture_at]
    assert picture.turn == 0 and picture.frames.frames[0].index == ended.end_frame
    # The idle pictures of those offsets follow on time, without their audio again.
    later = [e.audio.sample_offset for e in after[picture_at:] if e.HasField("audio")]
    assert all(offset > max(sent) for offset in later)
    shown = [f for turn, f in client.frames() if turn == 1]
    assert len(shown) == ended.end_frame - ended.start_frame
    # What it counts as played is the voice kept under those pictures: not what was taken
    # back, nor the silence of a tick that held its picture while the voice was late.
    kept = [
        e.audio.pcm
        for e in before
        if e.HasField("audio") and e.turn == 1 and e.audio.sample_offset < ended.end_frame * SLOT
    ]
    voiced = sum(len(pcm) // 2 for pcm in kept if any(pcm))
    assert voiced > 0
    assert ended.summary.audio_seconds == pytest.approx(voiced / RATE)
    assert ended.summary.audio_seconds <= len(shown) / FPS + 1e-9


async def test_a_turn_stopped_before_it_plays_takes_back_nothing(chat_turns):
    client, text = SessionClient(), "One two three four five six seven eight nine ten."
    first_turn = 1 + math.ceil(samples_of(text) / 1600) + 2  # started, chunks, timings, end
    tts = FakeTts(hold_after=first_turn)  # the next turn's voice never comes
    animator = _LaggingAnimator(stall=0.0, hold_after=3)
    session = asyncio.create_task(
        session_of(client, clients_of(tts=tts, animator=animator), chat_turns).run()
    )
    client.turn(text)
    await asyncio.wait_for(animator.held.wait(), 5)
    await asyncio.sleep(0.03)
    client.interrupt()  # its audio sent ahead is taken back: silence ahead of the pictures
    client.turn("Two.")
    client.interrupt()  # at once, while that silence still lies ahead
    await client.wait_for(lambda: len(client.ended()) == 2)
    at = max(i for i, e in enumerate(client.events) if e.HasField("turn_ended"))
    await client.wait_for(lambda: any(e.HasField("frames") for e in client.events[at:]))
    client.inbox.put_nowait(None)
    await asyncio.wait_for(session, 10)

    stopped, unplayed = client.ended()
    assert stopped.outcome == unplayed.outcome == gateway_pb2.TURN_OUTCOME_INTERRUPTED
    assert unplayed.summary.audio_seconds == 0 and unplayed.summary.frames == 0
    assert unplayed.end_frame <= stopped.end_frame + 1
    # What lay ahead of the pictures was the first turn's silence already: not sent again.
    after_first = max(i for i, e in enumerate(client.events[:at]) if e.HasField("turn_ended"))
    offsets = [e.audio.sample_offset for e in client.events[after_first:] if e.HasField("audio")]
    assert len(offsets) == len(set(offsets))


async def test_playing_speech_goes_out_a_tick_early_when_in_hand_and_idle_on_time(chat_turns):
    # A clock ten times slow (a tick every 0.4 s): how early each tick leaves, in session
    # seconds, is read off the clock as it is sent.
    clock = SessionClock(FPS, RATE, lead_seconds=0.0, now=lambda: time.monotonic() / 10)
    client, early, audio_early = SessionClient(), [], []
    send = client.send

    async def timed_send(event: gateway_pb2.ConverseResponse) -> None:
        if event.HasField("frames"):
            early.append((event.turn, clock.wait_seconds(event.frames.frames[0].index)))
        if event.HasField("audio") and event.turn == 1:
            index = event.audio.sample_offset // SLOT
            audio_early.append(clock.wait_seconds(index))
        await send(event)

    client.send = timed_send
    session = asyncio.create_task(session_of(client, clients_of(), chat_turns, clock).run())
    await client.wait_for(lambda: len(client.frames()) >= 2, timeout=5)
    client.turn("One two.")
    await client.wait_for(lambda: client.ended(), timeout=30)
    await client.wait_for(lambda: client.frames()[-1][0] == 0, timeout=5)
    session.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await session

    speech = [ahead for turn, ahead in early if turn == 1]
    idle = [ahead for turn, ahead in early if turn == 0]
    assert len(speech) >= 4
    # After the first (out as soon as it is in hand), every tick of speech leaves about a
    # tick (0.04 s of session time) before it is due; a loaded machine can only make it later.
    assert all(0.02 < ahead <= SPEECH_AHEAD_SECONDS + 1e-6 for ahead in speech[1:])
    # Its audio goes further ahead: each tick's as soon as it is due within the lead.
    assert all(ahead <= AUDIO_AHEAD_SECONDS + 1e-6 for ahead in audio_early)
    assert all(ahead > AUDIO_AHEAD_SECONDS - 0.04 for ahead in audio_early[3:])
    # Idle ticks leave when due.
    assert all(ahead <= 0.01 for ahead in idle)


async def _play_one_turn(
    client: SessionClient, animator: FakeAnimator, chat_turns, text: str, clock=None
) -> None:
    """Idles a moment, plays one turn of ``text`` to its end, then closes the session."""
    clients = clients_of(animator=animator)
    session = asyncio.create_task(session_of(client, clients, chat_turns, clock).run())
    await client.wait_for(lambda: len(client.frames()) >= 2)
    client.turn(text)
    await client.wait_for(lambda: client.ended(), timeout=30)
    client.inbox.put_nowait(None)
    await asyncio.wait_for(session, 10)


def _turn_start(client: SessionClient) -> tuple[int, int]:
    """Where the turn's first audio and its first frame are among the events."""
    audio = next(k for k, e in enumerate(client.events) if e.turn == 1 and e.HasField("audio"))
    frame = next(k for k, e in enumerate(client.events) if e.turn == 1 and e.HasField("frames"))
    return audio, frame


async def test_a_turns_first_audio_goes_before_its_picture_is_drawn(chat_turns):
    # A clock five times slow (a tick every 0.2 s): the turn's first tick comes up within
    # 0.2 s, its audio goes then, and the picture, drawn 0.3 s after the audio came, is
    # waited for (0.2 s past the tick's time) and shown in its own tick.
    clock = SessionClock(FPS, RATE, lead_seconds=0.0, now=lambda: time.monotonic() / 5)
    client = SessionClient()
    await _play_one_turn(client, _SlowAnimator(stall=0.3, answer=2), chat_turns, "One.", clock)

    audio, frame = _turn_start(client)
    assert audio < frame  # the audio went first
    first_audio, first_frame = client.events[audio].audio, client.events[frame].frames.frames[0]
    assert first_audio.sample_offset == first_frame.index * SLOT  # one tick: one clock
    # It went at once: before the idle tick ahead of the turn's first (a turn begins a
    # tick after the next to send), whose silence went just before it.
    idle_picture = next(
        k
        for k, e in enumerate(client.events)
        if e.HasField("frames") and e.frames.frames[0].index == first_frame.index - 1
    )
    assert client.events[idle_picture].turn == 0 and audio < idle_picture
    silence = client.events[audio - 1]
    assert silence.turn == 0 and silence.audio.sample_offset == (first_frame.index - 1) * SLOT
    # Meanwhile, only more of the turn's audio, the ticks after it in order, and the idle
    # pictures of the ticks before it (their silence went ahead of the turn's audio).
    between = client.events[audio + 1 : frame]
    assert all(
        e.turn == 0 and e.frames.frames[0].index < first_frame.index
        for e in between
        if e.HasField("frames")
    )
    offsets = [e.audio.sample_offset for e in between if e.HasField("audio")]
    assert offsets == [first_audio.sample_offset + (k + 1) * SLOT for k in range(len(offsets))]
    (ended,) = client.ended()
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE
    summary = ended.summary
    assert summary.time_to_first_frame_seconds - summary.time_to_first_audio_seconds >= 0.1
    made = math.ceil(samples_of("One.") * FPS / RATE)
    assert summary.frames == made  # nothing dropped
    frames = client.frames()
    assert [f.index for _, f in frames] == list(range(len(frames)))


async def test_a_first_picture_that_comes_too_late_gives_way_to_the_idle_frame(chat_turns):
    client, late = SessionClient(), _SlowAnimator(stall=0.3, answer=2)  # 3 s of the fast clock
    await _play_one_turn(client, late, chat_turns, "One two three.")

    audio, _ = _turn_start(client)
    start = client.events[audio].audio.sample_offset // SLOT
    frames = client.frames()
    assert [f.index for _, f in frames] == list(range(len(frames)))  # no tick missing
    # The idle frame in the place of each picture too late, the turn's own after them.
    late = next(k for k in range(start, len(frames)) if frames[k][0] == 1) - start
    assert late >= 1
    for k in range(start, start + late):
        assert frames[k][1].data == b"idle%d" % (k % 3)
    (ended,) = client.ended()
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE
    assert ended.start_frame == start
    made = math.ceil(samples_of("One two three.") * FPS / RATE)
    assert ended.summary.frames == made - late  # the late ones were dropped, the rest played
