"""Enhancing only the parts of a frame that move, feathered into the rest.

High quality renders every frame from a still that was enhanced once; per frame only
the mouth and jaw (and the eyes) differ from it, so only they need the enhancer. The
blending is :mod:`avatar_core.touchup`'s (the animator blends its own touch-up the same
way): each region is enhanced with some context around it and blended in with a weight
that is 1 inside the region and falls smoothly to 0 over ``FEATHER_PIXELS`` outside, so
there is no seam; outside the feather every pixel is the input's. The weights depend
only on the frame size and the regions, so the result is a pure function of the frame:
no flicker. Here the touch-up's errors become :class:`EnhancerError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from avatar_core import touchup
from avatar_core.touchup import CONTEXT_PIXELS, FEATHER_PIXELS, MAX_REGIONS, TouchupError
from avatar_enhancer.engine import EnhancerError

__all__ = ["CONTEXT_PIXELS", "FEATHER_PIXELS", "MAX_REGIONS", "Region", "RegionBlender"]


@contextlib.contextmanager
def _as_enhancer_error() -> Iterator[None]:
    try:
        yield
    except TouchupError as error:
        raise EnhancerError(str(error)) from None


class Region(touchup.Region):
    """A rectangle in frame pixels."""

    __slots__ = ()

    @classmethod
    def checked(cls, x: int, y: int, width: int, height: int) -> Region:
        """A region, or :class:`EnhancerError` when it is empty."""
        with _as_enhancer_error():
            return super().checked(x, y, width, height)


class RegionBlender(touchup.RegionBlender):
    """Enhances the regions of frames and feathers them into the unchanged rest.

    Args:
        regions: The parts of each frame to enhance (1 to ``MAX_REGIONS``).

    Raises:
        EnhancerError: No regions or too many.

    :meth:`apply` raises :class:`~avatar_core.touchup.TouchupError` when a backend returns
    a crop of another size.
    """

    def __init__(self, regions: Sequence[touchup.Region]) -> None:
        with _as_enhancer_error():
            super().__init__(regions)
