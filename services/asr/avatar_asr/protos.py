"""Engine events as numbered ``TranscribeResponse`` messages."""

from __future__ import annotations

from collections.abc import Iterator

from avatar.asr.v1 import asr_pb2
from avatar_asr.endpointing import EndReason
from avatar_asr.recognizer import Recognition
from avatar_asr.session import RecognitionSession, SessionSettings, SpeechStarted, Utterance

_REASONS = {
    EndReason.SILENCE: asr_pb2.SPEECH_END_REASON_SILENCE,
    EndReason.MAX_LENGTH: asr_pb2.SPEECH_END_REASON_MAX_LENGTH,
    EndReason.END_OF_INPUT: asr_pb2.SPEECH_END_REASON_END_OF_INPUT,
}


class ResponseWriter:
    """Numbers one stream's responses 0, 1, 2, ..."""

    def __init__(self) -> None:
        self.sequence = 0

    def _next(self, **event) -> asr_pb2.TranscribeResponse:
        response = asr_pb2.TranscribeResponse(sequence=self.sequence, **event)
        self.sequence += 1
        return response

    def started(
        self, model: str, language: str, settings: SessionSettings, interim_results: bool
    ) -> asr_pb2.TranscribeResponse:
        """The first response: the settings in force."""
        endpoint = settings.endpoint
        return self._next(
            started=asr_pb2.TranscriptionStarted(
                model=model,
                language=language,
                sample_rate=settings.sample_rate,
                end_of_speech_ms=round(endpoint.end_of_speech_seconds * 1000),
                interim_results=interim_results,
                max_utterance_seconds=endpoint.max_utterance_seconds,
            )
        )

    def responses(self, item: object) -> Iterator[asr_pb2.TranscribeResponse]:
        """The responses of a session event or a finished transcription."""
        if isinstance(item, SpeechStarted):
            yield self._next(
                speech_started=asr_pb2.SpeechStarted(
                    utterance=item.utterance, time_seconds=item.time_seconds
                )
            )
        elif isinstance(item, Utterance):
            yield self._next(
                speech_ended=asr_pb2.SpeechEnded(
                    utterance=item.utterance,
                    time_seconds=item.end_seconds,
                    reason=_REASONS[item.reason],
                )
            )
        else:
            job, recognition = item
            transcript = transcript_of(job, recognition)
            yield self._next(final=transcript) if job.final else self._next(partial=transcript)

    def end(self, session: RecognitionSession) -> asr_pb2.TranscribeResponse:
        """The last response: what the stream held."""
        return self._next(
            end=asr_pb2.TranscriptionEnd(
                utterances=session.utterances,
                audio_seconds=session.audio_seconds,
                speech_seconds=session.speech_seconds,
            )
        )


def transcript_of(job: Utterance, recognition: Recognition) -> asr_pb2.Transcript:
    """A transcript whose word times lie inside the utterance and never go backwards.

    Whisper's word times are estimates from its attention and may reach a little into
    the padding around the speech; they are kept inside ``start..end`` of the utterance.
    """
    words = []
    previous = job.start_seconds
    for word in recognition.words:
        start = min(max(word.start_seconds, previous), job.end_seconds)
        end = min(max(word.end_seconds, start), job.end_seconds)
        words.append(
            asr_pb2.RecognizedWord(
                text=word.text, start_seconds=start, end_seconds=end, probability=word.probability
            )
        )
        previous = start
    return asr_pb2.Transcript(
        utterance=job.utterance,
        text=recognition.text,
        start_seconds=job.start_seconds,
        end_seconds=job.end_seconds,
        words=words,
        processing_seconds=recognition.seconds,
    )
