"""Configuration of the gateway, from ``AVATAR_GATEWAY_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from avatar_core.config import (
    DEFAULT_PORTS,
    ClientTls,
    ConfigError,
    EnvReader,
    ServerConfig,
    secret_from_env,
)
from avatar_gateway.conversations import ConversationLimits, store_url_problem


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Gateway settings.

    Attributes:
        server: Shared server settings (``AVATAR_GATEWAY_PORT`` etc.).
        llm_address: ``host:port`` of the llm service; empty turns chat off.
        tts_address: ``host:port`` of the tts service.
        animator_address: ``host:port`` of the animator service, or of several replicas,
            comma-separated (each stream goes to the least busy).
        enhancer_address: ``host:port`` of the enhancer service.
        asr_address: ``host:port`` of the asr service; empty turns speech input of
            live sessions off (their audio gets a UserSpeech error).
        avatar_dir: Directory of the avatar store (and of the embedded conversation store).
        conversations_url: Where conversations are kept: ``redis://...`` for Redis,
            ``sqlite:PATH`` or empty for the embedded SQLite store in ``avatar_dir``.
            Kept out of ``repr``: a Redis URL may carry a password.
        conversations: Turns kept per conversation and its idle time to live.
        conversation_store_timeout_seconds: Longest wait for the conversation store.
        max_text_chars: Longest text a Speak request may carry.
        max_image_bytes: Largest photo CreateAvatar accepts.
        fps: Default frames per second.
        idle_clip_seconds: Length of each avatar's idle clip.
        sentences_ahead: Sentences synthesised ahead of the one being animated.
        connect_wait_seconds: How long a call waits for a downstream service that went
            away to reconnect before it fails with UNAVAILABLE.
        downstream_tls: TLS of the calls to the four services
            (``AVATAR_GATEWAY_TLS_CA``, ``_TLS_CLIENT_CERT``, ``_TLS_CLIENT_KEY``,
            ``_TLS_SERVER_NAME``); None calls them in plaintext.
        max_sessions: Live ``Converse`` sessions served at once; one more is refused with
            RESOURCE_EXHAUSTED.
        session_retry_seconds: When a refused session should try again, in its message
            and its ``retry-after-seconds`` trailing metadata.
        session_lead_seconds: How far ahead of its playing time a live session sends
            each frame and its audio: room for scheduling jitter; an interrupt is
            heard after at most this much.
        idle_cache_bytes: Memory for the avatars' idle loops of live sessions (rendered
            once per avatar, frame rate, encoding and quality, shared by every session);
            the least recently used loop goes first.
        auth_token: Bearer token every caller must present
            (``AVATAR_GATEWAY_AUTH_TOKEN`` or ``AVATAR_GATEWAY_AUTH_TOKEN_FILE``);
            empty lets every caller in. Kept out of ``repr`` so it is never logged.
    """

    server: ServerConfig
    llm_address: str = f"127.0.0.1:{DEFAULT_PORTS['llm']}"
    tts_address: str = f"127.0.0.1:{DEFAULT_PORTS['tts']}"
    animator_address: str = f"127.0.0.1:{DEFAULT_PORTS['animator']}"
    enhancer_address: str = f"127.0.0.1:{DEFAULT_PORTS['enhancer']}"
    asr_address: str = ""
    avatar_dir: Path = Path("avatars")
    conversations_url: str = field(default="", repr=False)
    conversations: ConversationLimits = ConversationLimits()
    conversation_store_timeout_seconds: float = 2.0
    max_text_chars: int = 2000
    max_image_bytes: int = 10 * 1024 * 1024
    fps: float = 25.0
    idle_clip_seconds: float = 3.0
    sentences_ahead: int = 1
    connect_wait_seconds: float = 1.5
    downstream_tls: ClientTls | None = None
    max_sessions: int = 16
    session_retry_seconds: int = 5
    session_lead_seconds: float = 0.1
    idle_cache_bytes: int = 256 * 1024 * 1024
    auth_token: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewayConfig:
        """Reads and validates the settings."""
        env = EnvReader("AVATAR_GATEWAY_", environ)
        defaults = cls(server=ServerConfig(service="gateway"))
        conversations_url = env.string("CONVERSATIONS_URL")
        problem = store_url_problem(conversations_url)
        if problem:
            # The value itself is not repeated: it may carry a password.
            raise ConfigError(f"{env.name('CONVERSATIONS_URL')} {problem}")
        return cls(
            server=ServerConfig.from_env("gateway", environ),
            llm_address=env.string("LLM_ADDRESS", defaults.llm_address),
            tts_address=env.string("TTS_ADDRESS", defaults.tts_address),
            animator_address=env.string("ANIMATOR_ADDRESS", defaults.animator_address),
            enhancer_address=env.string("ENHANCER_ADDRESS", defaults.enhancer_address),
            asr_address=env.string("ASR_ADDRESS", defaults.asr_address),
            avatar_dir=Path(env.string("AVATAR_DIR", str(defaults.avatar_dir))),
            conversations_url=conversations_url,
            conversations=ConversationLimits(
                max_turns=env.integer("CONVERSATION_TURNS", 10, minimum=1, maximum=100),
                idle_seconds=env.number(
                    "CONVERSATION_IDLE_SECONDS", 86_400.0, minimum=60.0, maximum=31_536_000.0
                ),
            ),
            conversation_store_timeout_seconds=env.number(
                "CONVERSATION_STORE_TIMEOUT_SECONDS", 2.0, minimum=0.1, maximum=60.0
            ),
            max_text_chars=env.integer("MAX_TEXT_CHARS", 2000, minimum=1, maximum=100_000),
            max_image_bytes=env.integer("MAX_IMAGE_BYTES", 10 * 1024 * 1024, minimum=1024),
            fps=env.number("FPS", 25.0, minimum=1.0, maximum=120.0),
            idle_clip_seconds=env.number("IDLE_CLIP_SECONDS", 3.0, minimum=0.5, maximum=30.0),
            sentences_ahead=env.integer("SENTENCES_AHEAD", 1, minimum=1, maximum=16),
            connect_wait_seconds=env.number("CONNECT_WAIT_SECONDS", 1.5, minimum=0.0, maximum=60.0),
            downstream_tls=ClientTls.from_env(env),
            max_sessions=env.integer("MAX_SESSIONS", 16, minimum=1, maximum=10_000),
            session_retry_seconds=env.integer("SESSION_RETRY_SECONDS", 5, minimum=1, maximum=3600),
            session_lead_seconds=env.number("SESSION_LEAD_SECONDS", 0.1, minimum=0.0, maximum=2.0),
            idle_cache_bytes=env.integer("IDLE_CACHE_MB", 256, minimum=1, maximum=1_000_000)
            * 1024
            * 1024,
            auth_token=secret_from_env(env, "AUTH_TOKEN"),
        )
