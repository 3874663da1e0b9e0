"""Configuration of the llm service, from ``AVATAR_LLM_*`` variables.

With neither ``AVATAR_LLM_BASE_URL`` nor ``AVATAR_LLM_MODEL`` set the service still
starts (the rest of the stack works without chat) and answers chat requests with
FAILED_PRECONDITION; setting only one of them is a mistake and fails at start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from avatar_core.config import ConfigError, EnvReader, ServerConfig
from avatar_llm.engine import (
    DEFAULT_SYSTEM_PROMPT,
    MAX_ANSWER_TOKENS,
    TOKEN_LIMIT_PARAMETERS,
    ChatSettings,
)

PREFIX = "AVATAR_LLM_"
BASE_URL_VARIABLE = f"{PREFIX}BASE_URL"
MODEL_VARIABLE = f"{PREFIX}MODEL"
API_KEY_VARIABLE = f"{PREFIX}API_KEY"
FALLBACK_API_KEY_VARIABLE = "OPENAI_API_KEY"
# Which variable sets each required ChatSettings field, for error messages.
SETTING_VARIABLES = {"base_url": BASE_URL_VARIABLE, "model": MODEL_VARIABLE}


@dataclass(frozen=True, slots=True)
class LlmConfig:
    """llm service settings.

    Attributes:
        server: Shared server settings (``AVATAR_LLM_PORT`` etc.).
        chat: Endpoint, model, prompt and limits of the chat engine.
    """

    server: ServerConfig
    chat: ChatSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LlmConfig:
        """Reads and validates the settings.

        Raises:
            ConfigError: A setting is invalid; the message names the variable.
        """
        env = EnvReader(PREFIX, environ)
        base_url = env.string("BASE_URL").rstrip("/")
        model = env.string("MODEL")
        _check_endpoint(base_url, model)
        parameter = env.string("TOKEN_LIMIT_PARAMETER", "max_tokens")
        if parameter not in TOKEN_LIMIT_PARAMETERS:
            raise ConfigError(
                f"{env.name('TOKEN_LIMIT_PARAMETER')}={parameter!r} is unknown; "
                f"use one of {', '.join(TOKEN_LIMIT_PARAMETERS)}"
            )
        temperature = None
        if env.string("TEMPERATURE"):
            temperature = env.number("TEMPERATURE", 0.0, minimum=0.0, maximum=2.0)
        chat = ChatSettings(
            base_url=base_url,
            api_key=env.string("API_KEY")
            or EnvReader("", environ).string(FALLBACK_API_KEY_VARIABLE),
            model=model,
            system_prompt=env.string("SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT,
            max_tokens=env.integer("MAX_TOKENS", 200, minimum=1, maximum=MAX_ANSWER_TOKENS),
            token_limit_parameter=parameter,
            temperature=temperature,
            timeout_seconds=env.number("TIMEOUT_SECONDS", 30.0, minimum=0.1, maximum=600.0),
            max_retries=env.integer("MAX_RETRIES", 1, minimum=0, maximum=10),
            history_turns=env.integer("HISTORY_TURNS", 10, minimum=0, maximum=1000),
            max_message_chars=env.integer("MAX_MESSAGE_CHARS", 4000, minimum=1, maximum=1_000_000),
        )
        return cls(server=ServerConfig.from_env("llm", environ), chat=chat)


def _check_endpoint(base_url: str, model: str) -> None:
    if base_url and not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{BASE_URL_VARIABLE}={base_url!r} is not an http(s) URL "
            "(for example https://api.openai.com/v1)"
        )
    if base_url and not model:
        raise ConfigError(f"{BASE_URL_VARIABLE} is set but {MODEL_VARIABLE} is not: name a model")
    if model and not base_url:
        raise ConfigError(
            f"{MODEL_VARIABLE} is set but {BASE_URL_VARIABLE} is not: give the endpoint's URL "
            "(for example https://api.openai.com/v1)"
        )


def setup_hint(missing: tuple[str, ...]) -> str:
    """Says which variables to set so that chat works, naming the ``missing`` settings."""
    variables = " and ".join(SETTING_VARIABLES.get(name, name) for name in missing)
    return (
        f"no language model is configured: set {variables} "
        f"(for example {BASE_URL_VARIABLE}=https://api.openai.com/v1 {MODEL_VARIABLE}=gpt-4o-mini "
        f"with {API_KEY_VARIABLE} or {FALLBACK_API_KEY_VARIABLE}, or "
        f"{BASE_URL_VARIABLE}=http://localhost:11434/v1 for a local Ollama)"
    )
