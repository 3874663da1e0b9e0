"""``python -m avatar_enhancer``: runs the enhancer server."""

import cv2

from avatar_core.server import run
from avatar_enhancer.config import EnhancerConfig
from avatar_enhancer.servicer import create_service


def main() -> None:
    """Reads the configuration from the environment and serves until SIGTERM."""
    config = EnhancerConfig.from_env()
    # The service runs AVATAR_ENHANCER_WORKERS frames at once, each on one thread. OpenCV's
    # own thread pool on top of that splits every small crop across the cores again, and
    # its workers' waiting costs more CPU than the split saves (about 1 ms of a 512 px frame).
    cv2.setNumThreads(1)
    run(config.server, lambda registry: create_service(config, registry))


if __name__ == "__main__":
    main()
