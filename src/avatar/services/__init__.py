"""The four backend services: llm, tts, animator and enhancer."""
