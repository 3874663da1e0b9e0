"""The web front: a page that shows an avatar live over WebRTC, a client of the gateway.

It runs as its own process (``python -m avatar_gateway.web``) and talks to the gateway
over gRPC like any other client: it imports only the generated stubs and
``avatar_core``, never the gateway's servicer or pipeline. One browser session is one
``Converse`` stream; its audio and frames become one WebRTC audio track and one video
track (aiortc), and its events reach the page over the data channel ``events``.
"""
