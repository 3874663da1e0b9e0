"""avatar: a face photo and text in, a lip-synced talking-head video streamed out.

The package holds the generated protocol stubs (``avatar.<service>.v1``), the shared
server core (``avatar.core``), the four services (``avatar.services``), the public
gateway (``avatar.gateway``) and the command-line client (``avatar.cli``).
"""

__version__ = "0.1.0"
