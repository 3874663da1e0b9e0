"""``python -m avatar_tts``: runs the tts server."""

from avatar_core.server import run
from avatar_tts.config import TtsConfig
from avatar_tts.servicer import create_service


def main() -> None:
    """Reads the configuration from the environment and serves until SIGTERM."""
    config = TtsConfig.from_env()
    run(config.server, lambda registry: create_service(config, registry))


if __name__ == "__main__":
    main()
