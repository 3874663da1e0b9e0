"""One ``Enhance`` stream's work on its batches: decode, find faces, enhance, encode.

Frames of a batch are decoded and searched for faces in parallel (each is a pure
function of its frame), the landmarks are then steadied in frame order (the one step
that looks across frames), and the frames are enhanced and encoded in parallel again.
The same stream of frames therefore always gives the same output.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import Executor

import numpy as np

from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2
from avatar_core.frames import decode_frame, encode_frame
from avatar_enhancer.backends import Backend
from avatar_enhancer.engine import EnhancerError, EnhanceSettings, check_frame
from avatar_enhancer.faces import FaceLandmarks, FaceLocator, LandmarkSmoother
from avatar_enhancer.metrics import EnhancerMetrics
from avatar_enhancer.regions import RegionBlender


class EnhanceStream:
    """The state of one stream: its backend, settings and the face track.

    Args:
        backend: The loaded backend that enhances.
        settings: Scale and fidelity of the stream.
        executor: Where the pixel work runs.
        metrics: Frames and faces are counted here.
        locator: Finds faces in frames that come without landmarks.
        regions: When given, only these parts of each frame are enhanced and
            feathered into the rest, which passes through as it came.
        jobs: Worker jobs a batch's frames are split into (the executor's workers).
    """

    def __init__(
        self,
        backend: Backend,
        settings: EnhanceSettings,
        executor: Executor,
        metrics: EnhancerMetrics,
        locator: FaceLocator,
        regions: RegionBlender | None = None,
        jobs: int = 2,
    ) -> None:
        self._backend = backend
        self._jobs = max(1, jobs)
        self._regions = regions
        self._settings = settings
        self._executor = executor
        self._metrics = metrics
        self._locator = locator
        self._smoother = LandmarkSmoother()

    async def enhance(
        self,
        batch: media_pb2.FrameBatch,
        faces: Iterable[enhancer_pb2.FaceLandmarks],
        encoding: int,
        jpeg_quality: int,
    ) -> list[media_pb2.Frame]:
        """The batch's frames enhanced, in order, with their indices.

        Raises:
            FrameFormatError: A frame does not decode.
            EnhancerError: Landmarks that are not 10 finite numbers, or of no frame here.
        """
        sent = _landmarks_by_index(faces, {frame.index for frame in batch.frames})
        if not self._backend.needs_faces:
            # One job per frame: nothing looks across frames.
            return await self._map(
                lambda frame: self._finish(frame, _decoded(frame), None, encoding, jpeg_quality),
                batch.frames,
            )
        images = await self._map(_decoded, batch.frames)
        landmarks = await self._faces(batch.frames, images, sent)
        return await self._map(
            lambda i: self._finish(
                batch.frames[i], images[i], landmarks[i], encoding, jpeg_quality
            ),
            range(len(images)),
        )

    def _finish(
        self,
        frame: media_pb2.Frame,
        image: np.ndarray,
        landmarks: FaceLandmarks | None,
        encoding: int,
        jpeg_quality: int,
    ) -> media_pb2.Frame:
        return encode_frame(self._enhanced(image, landmarks), frame.index, encoding, jpeg_quality)

    def _enhanced(self, image: np.ndarray, landmarks: FaceLandmarks | None) -> np.ndarray:
        if self._regions is None:
            return self._backend.enhance(image, self._settings, landmarks)
        # The decoded frame is this job's own: the regions are blended into it. An RGB24
        # frame is a read-only view of the request's bytes, and gets copied.
        in_place = image.flags.writeable
        if self._backend.needs_faces:
            # A face model sees the whole aligned face; only the regions are kept.
            whole = self._backend.enhance(image, self._settings, landmarks)
            return self._regions.apply(
                image,
                lambda crop, corner: whole[
                    corner[0] : corner[0] + crop.shape[0], corner[1] : corner[1] + crop.shape[1]
                ],
                in_place=in_place,
            )
        return self._regions.apply(
            image,
            lambda crop, _corner: self._backend.enhance(crop, self._settings),
            in_place=in_place,
        )

    async def _faces(
        self,
        frames: list[media_pb2.Frame],
        images: list[np.ndarray],
        sent: dict[int, FaceLandmarks],
    ) -> list[FaceLandmarks | None]:
        """Each frame's landmarks: as sent, else found and steadied; None for no face."""
        if not self._backend.needs_faces:
            return [None] * len(images)
        missing = [i for i, frame in enumerate(frames) if frame.index not in sent]
        found = await self._map(lambda i: self._locator.locate(images[i]), missing)
        detected = dict(zip(missing, found, strict=True))
        faces: list[FaceLandmarks | None] = []
        for position, frame in enumerate(frames):
            if frame.index in sent:
                faces.append(sent[frame.index])
                source = "sent"
            else:
                faces.append(self._smoother.update(detected[position]))
                source = "detected" if detected[position] is not None else "missing"
                if detected[position] is None and faces[-1] is not None:
                    source = "held"
            self._metrics.faces.labels(source).inc()
        return faces

    async def _map(self, function, items) -> list:
        """``function`` of each item, in order, as at most ``jobs`` jobs of whole runs of items:
        a hand-over to a worker thread and back costs more than a small frame's pixels."""
        items = list(items)
        if not items:
            return []
        loop = asyncio.get_running_loop()
        size = -(-len(items) // min(self._jobs, len(items)))
        runs = [items[start : start + size] for start in range(0, len(items), size)]
        done = await asyncio.gather(
            *(
                loop.run_in_executor(self._executor, lambda run=run: [function(i) for i in run])
                for run in runs
            )
        )
        return [result for run in done for result in run]


def _decoded(frame: media_pb2.Frame) -> np.ndarray:
    image = decode_frame(frame)
    check_frame(image)
    return image


def _landmarks_by_index(
    faces: Iterable[enhancer_pb2.FaceLandmarks], indices: set[int]
) -> dict[int, FaceLandmarks]:
    """The caller's landmarks by frame index, checked."""
    by_index: dict[int, FaceLandmarks] = {}
    for face in faces:
        if face.frame_index not in indices:
            raise EnhancerError(
                f"face landmarks for frame {face.frame_index}, which is not in the batch"
            )
        if face.frame_index in by_index:
            raise EnhancerError(f"face landmarks sent twice for frame {face.frame_index}")
        try:
            by_index[face.frame_index] = FaceLandmarks.from_values(face.points)
        except ValueError as error:
            raise EnhancerError(f"frame {face.frame_index}: {error}") from None
    return by_index
