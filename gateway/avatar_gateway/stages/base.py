"""The contract every Speak stage keeps, and the guard of the streaming calls they make.

A stage does one job for one request and runs as a task of its own, between bounded
queues:

- **start**: the pipeline calls :meth:`Stage.start`, which runs :meth:`Stage.run`;
- **end**: ``run`` returns once its input has ended and it has put
  :data:`~avatar_gateway.stages.events.END` on its output, which ends the stage after it;
- **cancel**: :meth:`Stage.cancel` stops it wherever it waits; a downstream call it
  has open is cancelled with it (see :func:`requests_until`).

Each stage times its own busy work with :meth:`Stage.timed`, under its ``name``: the
name of the service it calls, as in ``SpeakSummary.stages`` and ``avatar_stage_seconds``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from avatar_gateway.measurements import SpeakMeasurements
from avatar_gateway.plan import Clients, SpeakPlan
from avatar_gateway.stages.events import END


@dataclass(frozen=True, slots=True)
class StageContext:
    """What every stage of one request works with.

    Attributes:
        plan: The validated request.
        clients: The downstream services.
        measurements: The request's measurements, written by its stages.
        time_remaining: Seconds left until the client's deadline (None: no deadline).
    """

    plan: SpeakPlan
    clients: Clients
    measurements: SpeakMeasurements
    time_remaining: Callable[[], float | None]


class Stage(abc.ABC):
    """One job of the Speak pipeline, run as a task between bounded queues.

    Args:
        context: What the request's stages work with.
    """

    name: ClassVar[str]
    """The stage's name in the request's measurements: the service it calls."""

    def __init__(self, context: StageContext) -> None:
        self.context = context
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Runs the stage in a task of its own and returns the task."""
        self._task = asyncio.create_task(self.run(), name=f"speak {self.name} stage")
        return self._task

    @abc.abstractmethod
    async def run(self) -> None:
        """Does the stage's job until its input ends, then ends its output.

        Raises:
            StageError: The service the stage calls failed.
        """

    def cancel(self) -> None:
        """Stops the stage, and with it the downstream call it has open."""
        if self._task is not None:
            self._task.cancel()

    def timeout(self) -> float | None:
        """Seconds left for a downstream call: the rest of the client's deadline."""
        return self.context.time_remaining()

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        """Adds the time spent in the block to the stage's busy time, when it succeeds."""
        started = time.perf_counter()
        yield
        self.context.measurements.add_stage_seconds(self.name, time.perf_counter() - started)


class _CallEnded(Exception):
    """Raised into gRPC's reader of a request iterator: it then cancels the call."""


async def requests_until(stop: asyncio.Event, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Yields ``requests`` until ``stop`` is set, then makes gRPC cancel the call.

    gRPC reads a call's request iterator in a task of its own and, once the call has
    ended with an error (a deadline, a downstream failure), no longer cancels that task:
    a generator waiting on a pipeline queue would keep it pending forever. Setting
    ``stop`` when the stage that reads the call ends interrupts whatever the generator
    waits for. Simply ending the iterator would half-close the call, which a downstream
    service would take for a stream closed without its end message; raising instead
    makes gRPC cancel it, so the service sees CANCELLED.
    """
    iterator = aiter(requests)
    stopped = asyncio.ensure_future(stop.wait())
    step: asyncio.Future | None = None
    try:
        while not stop.is_set():
            step = asyncio.ensure_future(anext(iterator, END))
            await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                break
            item = step.result()
            if item is END:
                return
            yield item
        raise _CallEnded("the pipeline stage reading this call has ended")
    finally:
        stopped.cancel()
        if step is not None and not step.done():
            step.cancel()
            await asyncio.gather(step, return_exceptions=True)
        elif hasattr(iterator, "aclose"):
            await iterator.aclose()
