"""``python -m avatar_animator``: runs the animator server."""

import cv2

from avatar_animator.config import AnimatorConfig
from avatar_animator.servicer import create_service
from avatar_core.server import run


def main() -> None:
    """Reads the configuration from the environment and serves until SIGTERM."""
    config = AnimatorConfig.from_env()
    # The service renders AVATAR_ANIMATOR_WORKERS streams' frames at once, each on one
    # thread. OpenCV's own pool splitting each warp, blur and filter across the cores again
    # cost about 1 ms of CPU per 512 px frame in waiting, for next to no gain in a frame's
    # time (4.5-4.9 ms against 4.7 ms on one thread, on the sample face).
    cv2.setNumThreads(1)
    run(config.server, lambda registry: create_service(config, registry))


if __name__ == "__main__":
    main()
