"""The HTTP side: the page, its JSON API, and the WHEP-style session endpoints.

    GET    /                                  the page (static/index.html)
    GET    /api/config                        limits the page shows (upload size)
    GET    /api/avatars                       stored avatars
    POST   /api/avatars?name=N                create one; the body is the photo
    DELETE /api/avatars/{id}                  delete one
    GET    /api/avatars/{id}/poster.gif       its looping GIF poster
    GET    /api/avatars/{id}/speech.mp4?text= a finished message as MP4 (Speak, include_mp4)
    GET    /api/voices                        the tts voices
    POST   /api/sessions?avatar=&voice=&quality=&mode=   SDP offer in, 201 + SDP answer out
    DELETE /api/sessions/{id}                 end a live session
    POST   /api/sessions/{id}/turns           {"text", "mode", "client_turn_id"}
    POST   /api/sessions/{id}/interrupt       stop the turn that is playing

Every call the gateway refuses is answered with a JSON ``{"error", "code"}`` in plain
words (``errors.py``); state-changing requests from another origin are refused.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path

import grpc
from aiohttp import web
from aiortc import RTCIceServer

from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.web.config import WebConfig
from avatar_gateway.web.errors import error_response, grpc_error_response
from avatar_gateway.web.gateway_client import GatewayConnection
from avatar_gateway.web.metrics import WebMetrics
from avatar_gateway.web.session import MODES, SessionSettings
from avatar_gateway.web.sessions import Sessions, SessionsFull

LOG = logging.getLogger("avatar.web")
STATIC_DIR = Path(str(resources.files("avatar_gateway.web") / "static"))
QUALITIES = {"low": gateway_pb2.QUALITY_LOW, "high": gateway_pb2.QUALITY_HIGH}
MAX_SDP_BYTES = 64 * 1024
MAX_JSON_BYTES = 64 * 1024
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
        "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
CONFIG_KEY = web.AppKey("config", WebConfig)
GATEWAY_KEY = web.AppKey("gateway", GatewayConnection)
SESSIONS_KEY = web.AppKey("sessions", Sessions)
METRICS_KEY = web.AppKey("metrics", WebMetrics)
POSTERS_KEY = web.AppKey("posters", dict)


def _megabytes(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MB"


def token_of(request: web.Request) -> str:
    """The bearer token the page sent, "" when none."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@web.middleware
async def same_origin_only(request: web.Request, handler):
    """Refuses state-changing requests a browser sends from another origin."""
    if request.method in UNSAFE_METHODS:
        origin = request.headers.get("Origin")
        own = f"{request.scheme}://{request.host}"
        cross_site = request.headers.get("Sec-Fetch-Site") == "cross-site"
        if cross_site or (origin is not None and origin != own):
            return error_response(403, "Requests from other sites are refused.", "CROSS_ORIGIN")
    return await handler(request)


@web.middleware
async def plain_errors(request: web.Request, handler):
    """Gateway failures and HTTP errors as JSON in plain words; security headers on all."""
    try:
        response = await handler(request)
    except grpc.aio.AioRpcError as error:
        response = grpc_error_response(error)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[CONFIG_KEY].max_upload_bytes
        response = _too_large(limit, None)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        response = error_response(error.status, error.reason, "HTTP")
    response.headers.update(SECURITY_HEADERS)
    return response


def _too_large(limit: int, size: int | None) -> web.Response:
    sent = f"The photo is {_megabytes(size)}; " if size else "The upload is too large; "
    return error_response(413, f"{sent}the largest accepted is {_megabytes(limit)}.", "TOO_LARGE")


async def page(request: web.Request) -> web.FileResponse:
    """The page."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def api_config(request: web.Request) -> web.Response:
    """Limits the page needs before it uploads."""
    config = request.app[CONFIG_KEY]
    return web.json_response(
        {"max_upload_bytes": config.max_upload_bytes, "ice_servers": config.ice_servers_json()}
    )


def _avatar_json(avatar: gateway_pb2.Avatar) -> dict:
    return {
        "id": avatar.avatar_id,
        "name": avatar.display_name,
        "width": avatar.frame_width,
        "height": avatar.frame_height,
        "created": avatar.created_unix_seconds,
        "warnings": list(avatar.warnings),
    }


async def list_avatars(request: web.Request) -> web.Response:
    """The stored avatars, newest first."""
    avatars = await request.app[GATEWAY_KEY].list_avatars(token_of(request))
    return web.json_response({"avatars": [_avatar_json(a) for a in reversed(avatars)]})


async def create_avatar(request: web.Request) -> web.Response:
    """Creates an avatar from the photo in the request body."""
    limit = request.app[CONFIG_KEY].max_upload_bytes
    if request.content_length is not None and request.content_length > limit:
        return _too_large(limit, request.content_length)
    image = await request.read()
    if not image:
        return error_response(400, "Choose a photo first: the upload was empty.", "EMPTY")
    name = request.query.get("name", "")[:200]
    avatar = await request.app[GATEWAY_KEY].create_avatar(image, name, token_of(request))
    request.app[POSTERS_KEY][avatar.avatar_id] = avatar.poster_gif
    return web.json_response(_avatar_json(avatar), status=201)


async def delete_avatar(request: web.Request) -> web.Response:
    """Deletes an avatar."""
    avatar_id = request.match_info["avatar_id"]
    await request.app[GATEWAY_KEY].delete_avatar(avatar_id, token_of(request))
    request.app[POSTERS_KEY].pop(avatar_id, None)
    return web.Response(status=204)


async def poster(request: web.Request) -> web.Response:
    """An avatar's GIF poster (kept in memory: it never changes)."""
    avatar_id = request.match_info["avatar_id"]
    posters = request.app[POSTERS_KEY]
    gif = posters.get(avatar_id)
    if gif is None:
        avatar = await request.app[GATEWAY_KEY].get_avatar(
            avatar_id, token_of(request), include_media=True
        )
        gif = avatar.poster_gif
        if len(posters) > 256:
            posters.clear()
        posters[avatar_id] = gif
    return web.Response(
        body=gif, content_type="image/gif", headers={"Cache-Control": "private, max-age=3600"}
    )


async def speech_mp4(request: web.Request) -> web.Response:
    """A message spoken by an avatar as one MP4 file (deterministic for the same text)."""
    text = request.query.get("text", "").strip()
    if not text:
        return error_response(400, "There is no text to render.", "EMPTY")
    quality = request.query.get("quality", "low")
    speak = gateway_pb2.SpeakRequest(
        avatar_id=request.match_info["avatar_id"],
        text=text,
        mode=gateway_pb2.SPEAK_MODE_SPEAK,
        quality=QUALITIES.get(quality, gateway_pb2.QUALITY_LOW),
        voice=request.query.get("voice", ""),
    )
    video = await request.app[GATEWAY_KEY].render_mp4(speak, token_of(request))
    return web.Response(
        body=video,
        content_type="video/mp4",
        headers={"Content-Disposition": 'attachment; filename="avatar-message.mp4"'},
    )


async def list_voices(request: web.Request) -> web.Response:
    """The voices, the default first."""
    response = await request.app[GATEWAY_KEY].list_voices(token_of(request))
    voices = sorted(response.voices, key=lambda v: (not v.is_default, v.name))
    return web.json_response(
        {
            "default": response.default_voice,
            "voices": [
                {
                    "name": v.name,
                    "language": v.language,
                    "description": v.description,
                    "available": v.available,
                    "is_default": v.is_default,
                }
                for v in voices
            ],
        }
    )


def _choice(request: web.Request, name: str, choices: dict[str, int], default: str) -> int:
    value = request.query.get(name, default) or default
    if value not in choices:
        raise web.HTTPBadRequest(reason=f"{name} must be one of {', '.join(choices)}")
    return choices[value]


async def create_session(request: web.Request) -> web.Response:
    """WHEP-style: the page's SDP offer in, the answer out (201, Location)."""
    config, metrics = request.app[CONFIG_KEY], request.app[METRICS_KEY]
    avatar_id = request.query.get("avatar", "")
    if not avatar_id:
        return error_response(400, "Choose an avatar first.", "NO_AVATAR")
    if request.content_type != "application/sdp":
        return error_response(415, "The offer must be sent as application/sdp.", "SDP")
    if request.content_length is not None and request.content_length > MAX_SDP_BYTES:
        return error_response(413, "The SDP offer is too large.", "TOO_LARGE")
    settings = SessionSettings(
        avatar_id=avatar_id,
        voice=request.query.get("voice", ""),
        quality=_choice(request, "quality", QUALITIES, "low"),
        mode=_choice(request, "mode", MODES, "speak"),
    )
    offer = (await request.read())[:MAX_SDP_BYTES].decode("utf-8", "replace")
    try:
        session = request.app[SESSIONS_KEY].open(settings, token_of(request))
    except SessionsFull:
        metrics.sessions_refused.labels("busy").inc()
        retry = config.retry_after_seconds
        return error_response(503, f"The avatar is busy; retry in {retry} s.", "BUSY", retry)
    try:
        await session.start(config.session_start_timeout_seconds)
        answer = await session.answer(offer)
    except grpc.aio.AioRpcError as error:
        await session.close("the gateway refused it")
        reason = "busy" if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else "refused"
        metrics.sessions_refused.labels(reason).inc()
        return grpc_error_response(error)
    except ValueError as error:
        await session.close("bad offer")
        metrics.sessions_refused.labels("invalid").inc()
        return error_response(400, str(error), "SDP")
    except (TimeoutError, ConnectionError):
        await session.close("the gateway did not start it")
        metrics.sessions_refused.labels("failed").inc()
        return error_response(504, "The avatar service did not start the session.", "TIMEOUT")
    except Exception:
        LOG.exception("session %s could not be set up", session.session_id)
        await session.close("it could not be set up")
        metrics.sessions_refused.labels("failed").inc()
        return error_response(
            500, "The live session could not be set up; the server log has the details.", "WEBRTC"
        )
    location = f"/api/sessions/{session.session_id}"
    return web.Response(
        status=201, text=answer, content_type="application/sdp", headers={"Location": location}
    )


def _session(request: web.Request):
    session = request.app[SESSIONS_KEY].get(request.match_info["session_id"])
    if session is None:
        raise web.HTTPNotFound(reason="This live session has ended; reload the page.")
    return session


async def delete_session(request: web.Request) -> web.Response:
    """Ends a live session."""
    await _session(request).close("the page ended it")
    return web.Response(status=204)


async def send_turn(request: web.Request) -> web.Response:
    """A turn for a live session: it stops the one playing."""
    session = _session(request)
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        return error_response(413, "The message is too long.", "TOO_LARGE")
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        return error_response(400, "The turn must be JSON.", "JSON")
    if not isinstance(body, dict):
        return error_response(400, "The turn must be a JSON object.", "JSON")
    text = str(body.get("text", "")).strip()
    if not text:
        return error_response(400, "Type something for the avatar to say.", "EMPTY")
    mode_name = str(body.get("mode") or "")
    if mode_name and mode_name not in MODES:
        return error_response(400, f"mode must be one of {', '.join(MODES)}", "MODE")
    mode = MODES.get(mode_name, gateway_pb2.SPEAK_MODE_UNSPECIFIED)
    client_turn_id = str(body.get("client_turn_id", ""))[:100]
    client_turn_id = await session.send_turn(text, mode, client_turn_id)
    return web.json_response({"client_turn_id": client_turn_id}, status=202)


async def interrupt(request: web.Request) -> web.Response:
    """Stops the turn a live session is playing."""
    await _session(request).interrupt()
    return web.Response(status=202)


def create_app(config: WebConfig, metrics: WebMetrics) -> web.Application:
    """The web application, with its gateway connection opened on start-up."""
    app = web.Application(
        middlewares=[plain_errors, same_origin_only], client_max_size=config.max_upload_bytes
    )
    app[CONFIG_KEY] = config
    app[METRICS_KEY] = metrics
    app[POSTERS_KEY] = {}

    async def open_gateway(app: web.Application) -> None:
        app[GATEWAY_KEY] = GatewayConnection(config)
        ice_servers = tuple(RTCIceServer(**server) for server in config.ice_servers_json())
        app[SESSIONS_KEY] = Sessions(
            app[GATEWAY_KEY],
            metrics,
            config.max_sessions,
            ice_servers,
            video_ahead_seconds=config.video_ahead_seconds,
            video_playout_delay_ms=config.video_playout_delay_ms,
        )

    async def close_gateway(app: web.Application) -> None:
        await app[SESSIONS_KEY].close_all()
        await app[GATEWAY_KEY].close()

    app.on_startup.append(open_gateway)
    app.on_shutdown.append(close_gateway)
    app.router.add_get("/", page)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    app.router.add_get("/api/config", api_config)
    app.router.add_get("/api/avatars", list_avatars)
    app.router.add_post("/api/avatars", create_avatar)
    app.router.add_delete("/api/avatars/{avatar_id}", delete_avatar)
    app.router.add_get("/api/avatars/{avatar_id}/poster.gif", poster)
    app.router.add_get("/api/avatars/{avatar_id}/speech.mp4", speech_mp4)
    app.router.add_get("/api/voices", list_voices)
    app.router.add_post("/api/sessions", create_session)
    app.router.add_delete("/api/sessions/{session_id}", delete_session)
    app.router.add_post("/api/sessions/{session_id}/turns", send_turn)
    app.router.add_post("/api/sessions/{session_id}/interrupt", interrupt)
    return app
