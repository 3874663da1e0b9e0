"""``python -m avatar_asr``: runs the asr server."""

from avatar_asr.config import AsrConfig
from avatar_asr.servicer import create_service
from avatar_core.server import run


def main() -> None:
    """Reads the configuration from the environment and serves until SIGTERM."""
    config = AsrConfig.from_env()
    run(config.server, lambda registry: create_service(config, registry))


if __name__ == "__main__":
    main()
