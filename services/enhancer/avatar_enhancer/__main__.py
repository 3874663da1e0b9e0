"""``python -m avatar_enhancer``: runs the enhancer server."""

from avatar_core.server import run
from avatar_enhancer.config import EnhancerConfig
from avatar_enhancer.servicer import create_service


def main() -> None:
    """Reads the configuration from the environment and serves until SIGTERM."""
    config = EnhancerConfig.from_env()
    run(config.server, lambda registry: create_service(config, registry))


if __name__ == "__main__":
    main()
