"""``python -m avatar.services.animator``: runs the animator server."""

from avatar.core.server import run
from avatar.services.animator.config import AnimatorConfig
from avatar.services.animator.servicer import create_service


def main() -> None:
    """Reads the configuration from the environment and serves until SIGTERM."""
    config = AnimatorConfig.from_env()
    run(config.server, lambda registry: create_service(config, registry))


if __name__ == "__main__":
    main()
