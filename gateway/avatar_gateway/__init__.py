"""The public gateway: composes llm, tts, animator and enhancer into ``avatar.gateway.v1``."""
