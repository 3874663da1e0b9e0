"""The sample faces bundled with the developer tooling (see ``assets/README.md``)."""

from __future__ import annotations

from importlib import resources


def sample_face(name: str = "sample_face.jpg") -> bytes:
    """Returns a bundled sample photo's bytes.

    Args:
        name: ``sample_face.jpg`` (smiling, teeth showing) or ``sample_face_closed.jpg``
            (the same face with closed lips).
    """
    return (resources.files("avatar_devtools") / "assets" / name).read_bytes()
