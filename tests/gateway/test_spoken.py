"""What the avatar said: whole sentences that were sent, then the words of a cut one."""

from __future__ import annotations

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.spoken import SpokenText

RATE = 16_000


def _sentence(index: int, text: str, start: float, with_words: bool = True):
    sentence = gateway_pb2.Sentence(index=index, text=text, start_seconds=start)
    if with_words:
        for number, word in enumerate(text.split()):
            sentence.timings.words.add(
                text=word, start_seconds=0.5 * number, end_seconds=0.5 * (number + 1)
            )
    return sentence


def _audio(start: float, seconds: float) -> media_pb2.AudioChunk:
    return media_pb2.AudioChunk(
        pcm=bytes(2 * round(seconds * RATE)), sample_rate=RATE, sample_offset=round(start * RATE)
    )


def test_a_finished_stream_spoke_every_sentence():
    spoken = SpokenText()
    spoken.sentence(_sentence(0, "Hello there.", 0.0))
    spoken.audio(_audio(0.0, 1.0))
    spoken.sentence(_sentence(1, "How are you?", 1.0))
    spoken.audio(_audio(1.0, 0.2))
    assert spoken.text(finished=True) == "Hello there. How are you?"


def test_an_interrupted_stream_spoke_the_sent_sentences_and_the_words_heard_of_the_last():
    spoken = SpokenText()
    spoken.sentence(_sentence(0, "Hello there.", 0.0))
    spoken.audio(_audio(0.0, 1.0))
    spoken.sentence(_sentence(1, "The lake is calm tonight.", 1.0))
    spoken.audio(_audio(1.0, 1.1))  # up to 2.1 s: the first two words (each 0.5 s) were heard
    assert spoken.text(finished=False) == "Hello there. The lake"


def test_a_cut_sentence_without_word_timings_is_left_out():
    spoken = SpokenText()
    spoken.sentence(_sentence(0, "Hello there.", 0.0))
    spoken.audio(_audio(0.0, 1.0))
    spoken.sentence(_sentence(1, "The lake is calm.", 1.0, with_words=False))
    spoken.audio(_audio(1.0, 1.5))
    assert spoken.text(finished=False) == "Hello there."


def test_nothing_sent_is_nothing_spoken():
    spoken = SpokenText()
    assert spoken.text(finished=False) == spoken.text(finished=True) == ""
    spoken.sentence(_sentence(0, "Hello there.", 0.0))
    assert spoken.text(finished=False) == ""
