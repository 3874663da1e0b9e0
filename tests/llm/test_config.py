"""llm configuration from the environment: defaults, fallbacks and fast failures."""

from __future__ import annotations

import pytest

from avatar_core.config import ConfigError
from avatar_llm.config import LlmConfig, setup_hint
from avatar_llm.engine import DEFAULT_SYSTEM_PROMPT

ENDPOINT = {"AVATAR_LLM_BASE_URL": "http://localhost:11434/v1/", "AVATAR_LLM_MODEL": "llama3.2"}


def test_defaults_leave_chat_unconfigured_but_valid():
    config = LlmConfig.from_env({})
    assert config.chat.missing == ("base_url", "model")
    assert config.chat.system_prompt == DEFAULT_SYSTEM_PROMPT
    assert (config.server.port, config.server.metrics_port) == (50052, 9052)


def test_endpoint_key_and_limits_are_read():
    config = LlmConfig.from_env(
        {
            **ENDPOINT,
            "AVATAR_LLM_API_KEY": "own-key",
            "OPENAI_API_KEY": "openai-key",
            "AVATAR_LLM_SYSTEM_PROMPT": "Be a pirate.",
            "AVATAR_LLM_HISTORY_TURNS": "3",
            "AVATAR_LLM_MAX_MESSAGE_CHARS": "700",
            "AVATAR_LLM_TIMEOUT_SECONDS": "2.5",
            "AVATAR_LLM_TEMPERATURE": "0.3",
            "AVATAR_LLM_TOKEN_LIMIT_PARAMETER": "max_completion_tokens",
        }
    )
    chat = config.chat
    assert chat.base_url == "http://localhost:11434/v1" and chat.model == "llama3.2"
    assert chat.api_key == "own-key"
    assert chat.system_prompt == "Be a pirate."
    assert (chat.history_turns, chat.max_message_chars) == (3, 700)
    assert (chat.timeout_seconds, chat.temperature) == (2.5, 0.3)
    assert chat.token_limit_parameter == "max_completion_tokens"
    assert chat.missing == ()


def test_openai_api_key_is_the_fallback():
    config = LlmConfig.from_env({**ENDPOINT, "OPENAI_API_KEY": "openai-key"})
    assert config.chat.api_key == "openai-key"
    assert config.chat.temperature is None


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"AVATAR_LLM_BASE_URL": "http://x/v1"}, "AVATAR_LLM_MODEL is not"),
        ({"AVATAR_LLM_MODEL": "gpt-4o-mini"}, "AVATAR_LLM_BASE_URL is not"),
        ({**ENDPOINT, "AVATAR_LLM_BASE_URL": "localhost:8000"}, "not an http(s) URL"),
        ({**ENDPOINT, "AVATAR_LLM_HISTORY_TURNS": "-1"}, "AVATAR_LLM_HISTORY_TURNS"),
        ({**ENDPOINT, "AVATAR_LLM_TIMEOUT_SECONDS": "soon"}, "AVATAR_LLM_TIMEOUT_SECONDS"),
        ({**ENDPOINT, "AVATAR_LLM_TEMPERATURE": "5"}, "AVATAR_LLM_TEMPERATURE"),
        ({**ENDPOINT, "AVATAR_LLM_TOKEN_LIMIT_PARAMETER": "n"}, "TOKEN_LIMIT_PARAMETER"),
    ],
)
def test_bad_settings_fail_at_start_naming_the_variable(environment, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LlmConfig.from_env(environment)


def test_setup_hint_names_the_variables_to_set():
    hint = setup_hint(("base_url", "model"))
    assert "AVATAR_LLM_BASE_URL and AVATAR_LLM_MODEL" in hint
    assert "OPENAI_API_KEY" in hint
