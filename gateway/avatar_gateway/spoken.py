"""What the avatar really said: the text of the speech a client was handed.

A chat turn that is interrupted or fails is remembered as what was spoken, not as what
the LLM planned. The gateway hands a sentence's audio to the client before the next
sentence starts (the animator stage sends a sentence's event only after all of the
previous one's audio), so every sentence but the last one seen was heard whole; of the
last one, unless the stream ended normally, only the words whose audio had been sent
(when the sentence came with its word timings).
"""

from __future__ import annotations

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2

# A word whose end lies this close past the audio sent counts as said (rounding).
_WORD_END_TOLERANCE_SECONDS = 0.02


class SpokenText:
    """Follows the sentence and audio events of one stream, as they go to the client."""

    def __init__(self) -> None:
        self._sentences: list[gateway_pb2.Sentence] = []
        self._audio_end_seconds = 0.0

    def sentence(self, sentence: gateway_pb2.Sentence) -> None:
        """Notes a sentence event sent to the client."""
        self._sentences.append(sentence)

    def audio(self, chunk: media_pb2.AudioChunk) -> None:
        """Notes an audio chunk sent to the client."""
        if chunk.sample_rate:
            end = (chunk.sample_offset + len(chunk.pcm) // 2) / chunk.sample_rate
            self._audio_end_seconds = max(self._audio_end_seconds, end)

    def text(self, *, finished: bool) -> str:
        """The text spoken: every sentence when ``finished``, else up to the cut."""
        if not self._sentences:
            return ""
        heard = [sentence.text for sentence in self._sentences[:-1]]
        last = self._sentences[-1]
        if finished:
            heard.append(last.text)
        else:
            heard.extend(self._words_heard(last))
        return " ".join(text for text in heard if text)

    def _words_heard(self, sentence: gateway_pb2.Sentence) -> list[str]:
        limit = self._audio_end_seconds - sentence.start_seconds + _WORD_END_TOLERANCE_SECONDS
        words = []
        for word in sentence.timings.words:
            if word.end_seconds > limit:
                break
            words.append(word.text)
        return words
