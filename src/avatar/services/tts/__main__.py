"""``python -m avatar.services.tts``: runs the tts server."""

from avatar.core.server import run
from avatar.services.tts.config import TtsConfig
from avatar.services.tts.servicer import create_service


def main() -> None:
    """Reads the configuration from the environment and serves until SIGTERM."""
    config = TtsConfig.from_env()
    run(config.server, lambda registry: create_service(config, registry))


if __name__ == "__main__":
    main()
