"""``python -m avatar_gateway.web``: serves the page until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from avatar_core.config import ConfigError
from avatar_gateway.web.config import WebConfig
from avatar_gateway.web.server import WebServer


async def serve(config: WebConfig) -> None:
    """Runs the web front until the process is told to stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with WebServer(config) as server:
        logging.getLogger("avatar.web").info(
            "serving the page on %s (gateway %s)", server.url, config.gateway_address
        )
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Reads the configuration (environment, then command line) and serves."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = WebConfig.from_env().with_arguments(argv)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(config))
    except OSError as error:
        print(f"error: cannot serve on {config.host}:{config.port}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
