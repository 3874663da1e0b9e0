"""The ``deliver`` stage: what reaches the client, measured and recorded as it goes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.metrics import AvSyncMeter
from avatar_gateway.recording import StreamRecorder
from avatar_gateway.spoken import SpokenText
from avatar_gateway.stages.base import StageContext

MP4_CHUNK_BYTES = 512 * 1024


class DeliverStage:
    """The end of the chain: sees every event as it is handed to the client.

    It feeds the A/V-sync meter and the record of what was spoken (:attr:`spoken`),
    notes the first frame's time, counts frames and, when
    the client asked for an MP4, feeds the recorder, whose busy time is the ``mux``
    stage's. Unlike the other stages it has no task: it runs in the reader's own task
    as each event goes out, so time to first frame is when the client really gets it
    and no queue sits between the last stage and the client.

    Lifecycle: :meth:`deliver` each event, then :meth:`finish` once the media has
    ended (its MP4 chunks), and :meth:`close` in any case.

    Args:
        context: What the request's stages work with.
    """

    name = "mux"

    def __init__(self, context: StageContext) -> None:
        self.context = context
        self._sync = AvSyncMeter(context.plan.fps)
        self.spoken = SpokenText()
        self._recorder: StreamRecorder | None = None

    def deliver(self, event: gateway_pb2.SpeakResponse) -> None:
        """Notes one sentence, audio or frames event on its way to the client."""
        kind = event.WhichOneof("event")
        if kind == "frames":
            batch = event.frames
            self._sync.frames(batch)
            measurements = self.context.measurements
            if measurements.first_frame_at is None:
                measurements.first_frame_at = time.perf_counter()
            measurements.frames += len(batch.frames)
            if self._recorder is not None:
                self._recorder.add_frames(batch)
        elif kind == "audio":
            self._sync.audio(event.audio)
            self.spoken.audio(event.audio)
            if self._recorder is not None:
                self._recorder.add_audio(event.audio)
        elif kind == "sentence":
            self._sync.sentence(event.sentence.start_seconds)
            self.spoken.sentence(event.sentence)
            if self.context.plan.include_mp4 and self._recorder is None:
                # The first sentence says the sample rate; it precedes all media.
                self._recorder = StreamRecorder(
                    self.context.measurements.sample_rate, self.context.plan.fps
                )

    async def finish(self) -> AsyncIterator[gateway_pb2.SpeakResponse]:
        """Records the A/V offsets; yields the MP4 in chunks when one was asked for."""
        measurements = self.context.measurements
        measurements.av_offsets = self._sync.offsets()
        if self._recorder is None:
            return
        data = await self._recorder.finish()
        measurements.add_stage_seconds(self.name, self._recorder.busy_seconds)
        for offset in range(0, len(data), MP4_CHUNK_BYTES):
            piece = data[offset : offset + MP4_CHUNK_BYTES]
            last = offset + MP4_CHUNK_BYTES >= len(data)
            yield gateway_pb2.SpeakResponse(video=gateway_pb2.VideoChunk(data=piece, last=last))

    def close(self) -> None:
        """Drops the recorder's unfinished work and temporary file."""
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
