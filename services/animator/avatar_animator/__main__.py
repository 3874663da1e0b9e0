"""``python -m avatar_animator``: runs the animator server."""

from avatar_animator.config import AnimatorConfig
from avatar_animator.servicer import create_service
from avatar_core.server import run


def main() -> None:
    """Reads the configuration from the environment and serves until SIGTERM."""
    config = AnimatorConfig.from_env()
    run(config.server, lambda registry: create_service(config, registry))


if __name__ == "__main__":
    main()
