"""``python -m avatar_llm``: runs the llm server."""

from avatar_core.server import run
from avatar_llm.config import LlmConfig
from avatar_llm.servicer import create_service


def main() -> None:
    """Reads the configuration from the environment and serves until SIGTERM."""
    config = LlmConfig.from_env()
    run(config.server, lambda registry: create_service(config, registry))


if __name__ == "__main__":
    main()
