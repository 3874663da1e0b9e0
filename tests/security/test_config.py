"""Security settings are validated at start; a bad one names its variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from avatar_core.config import ClientTls, ConfigError, ServerConfig
from avatar_gateway.config import GatewayConfig


def test_server_tls_settings(certificates):
    tls = ServerConfig.from_env("tts", certificates.server_environment("tts", mutual=True)).tls
    assert tls is not None
    assert (tls.cert_file, tls.key_file, tls.client_ca_file) == (
        certificates.server_cert,
        certificates.server_key,
        certificates.ca,
    )
    assert ServerConfig.from_env("tts", {}).tls is None


def test_bad_server_tls_settings_name_the_variable(tmp_path, certificates):
    not_pem = tmp_path / "cert.txt"
    not_pem.write_text("hello")
    cases = {
        "set both AVATAR_TTS_TLS_CERT and AVATAR_TTS_TLS_KEY": {
            "AVATAR_TTS_TLS_CERT": str(certificates.server_cert)
        },
        "AVATAR_TTS_TLS_KEY='/no/such/key.pem': No such file": {
            "AVATAR_TTS_TLS_CERT": str(certificates.server_cert),
            "AVATAR_TTS_TLS_KEY": "/no/such/key.pem",
        },
        "AVATAR_TTS_TLS_CERT='.*cert.txt' is not a PEM file": {
            "AVATAR_TTS_TLS_CERT": str(not_pem),
            "AVATAR_TTS_TLS_KEY": str(certificates.server_key),
        },
        "AVATAR_TTS_TLS_CLIENT_CA needs AVATAR_TTS_TLS_CERT": {
            "AVATAR_TTS_TLS_CLIENT_CA": str(certificates.ca)
        },
    }
    for message, environment in cases.items():
        with pytest.raises(ConfigError, match=message):
            ServerConfig.from_env("tts", environment)


def test_gateway_downstream_tls_settings(certificates):
    environment = {
        "AVATAR_GATEWAY_TLS_CA": str(certificates.ca),
        "AVATAR_GATEWAY_TLS_CLIENT_CERT": str(certificates.client_cert),
        "AVATAR_GATEWAY_TLS_CLIENT_KEY": str(certificates.client_key),
        "AVATAR_GATEWAY_TLS_SERVER_NAME": "localhost",
    }
    config = GatewayConfig.from_env(environment)
    assert config.downstream_tls == ClientTls(
        ca_file=certificates.ca,
        cert_file=certificates.client_cert,
        key_file=certificates.client_key,
        server_name="localhost",
    )
    assert config.server.tls is None  # the gateway's own port stays plaintext
    assert GatewayConfig.from_env({}).downstream_tls is None
    with pytest.raises(ConfigError, match="AVATAR_GATEWAY_TLS_CLIENT_KEY"):
        GatewayConfig.from_env({"AVATAR_GATEWAY_TLS_CLIENT_CERT": str(certificates.client_cert)})


def test_overload_retry_hint_is_configurable():
    assert ServerConfig.from_env("llm", {}).retry_after_ms == 1000
    assert ServerConfig.from_env("llm", {"AVATAR_LLM_RETRY_AFTER_MS": "40"}).retry_after_ms == 40
    with pytest.raises(ConfigError, match="AVATAR_LLM_RETRY_AFTER_MS=-1 is below the minimum"):
        ServerConfig.from_env("llm", {"AVATAR_LLM_RETRY_AFTER_MS": "-1"})


def test_a_server_with_a_missing_certificate_stops_at_start():
    environment = {
        **os.environ,
        "AVATAR_ENHANCER_TLS_CERT": "/no/such/cert.pem",
        "AVATAR_ENHANCER_TLS_KEY": "/no/such/key.pem",
    }
    result = subprocess.run(
        [sys.executable, "-m", "avatar_enhancer"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "AVATAR_ENHANCER_TLS_CERT='/no/such/cert.pem': No such file or directory" in (
        result.stderr
    )
