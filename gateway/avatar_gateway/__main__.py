"""``python -m avatar_gateway``: runs the gateway server."""

from avatar_core.server import run
from avatar_gateway.config import GatewayConfig
from avatar_gateway.service import create_service


def main() -> None:
    """Reads the configuration from the environment and serves until SIGTERM."""
    config = GatewayConfig.from_env()
    run(config.server, lambda registry: create_service(config, registry))


if __name__ == "__main__":
    main()
