"""The stages of a Speak request, one job each, over the typed events in :mod:`.events`.

``sentences`` -> ``tts`` -> ``animator`` -> ``enhancer`` (high quality) -> ``deliver``;
:mod:`avatar_gateway.pipeline` composes them.
"""

from avatar_gateway.stages.animator import AnimatorStage
from avatar_gateway.stages.base import Stage, StageContext
from avatar_gateway.stages.deliver import DeliverStage
from avatar_gateway.stages.enhancer import EnhancerStage
from avatar_gateway.stages.sentences import SentenceStage
from avatar_gateway.stages.tts import TtsStage

__all__ = [
    "AnimatorStage",
    "DeliverStage",
    "EnhancerStage",
    "SentenceStage",
    "Stage",
    "StageContext",
    "TtsStage",
]
