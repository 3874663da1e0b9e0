"""The llm service: answers through any OpenAI-compatible model, streaming the answer."""
