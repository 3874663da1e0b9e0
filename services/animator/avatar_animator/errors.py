"""Typed errors of the animator engine; the servicer maps each to a gRPC status."""

from __future__ import annotations


class AnimatorError(Exception):
    """Base class of every animator engine error; the message is meant for the user."""


class FacePreparationError(AnimatorError):
    """The photo decodes but cannot be animated."""


class NoFaceError(FacePreparationError):
    """No face was found in the photo."""


class FaceTooSmallError(FacePreparationError):
    """The largest face in the photo is too small to animate well."""


class AppearanceMismatchError(FacePreparationError):
    """An appearance still does not match the prepared photo's framing."""


class AnimationInputError(AnimatorError):
    """An animation received input it cannot use (bad audio, bad settings, wrong order)."""
