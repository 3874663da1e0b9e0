"""The ``avatar`` command: run the stack, create avatars, make them speak.

    avatar up                                   start every service and the web page here
    avatar create-avatar PHOTO [--name N]       prints the new avatar's id
    avatar say "TEXT" --avatar ID -o out.mp4    streams, writes the MP4, prints timings
    avatar avatars | avatar delete ID
    avatar demo                                 up + sample avatar + say + down
    avatar multinode                            each service on its own network node (root)
    avatar train-tts DATASET OUTPUT [--language hr]  train a GlowTTS voice (coqui Trainer)

A gateway with TLS takes ``--tls-ca`` (and ``--tls-cert``/``--tls-key`` for mutual
TLS); one that requires a bearer token takes ``--token`` (or ``AVATAR_TOKEN``, which
keeps it out of the process list).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import grpc

from avatar.gateway.v1 import gateway_pb2
from avatar_core.config import ClientTls, ConfigError
from avatar_devtools import multinode
from avatar_devtools.client import GatewayClient, SpeakResult
from avatar_devtools.samples import sample_face
from avatar_devtools.stack import LocalStack, StackError, StackPorts, default_animators
from avatar_devtools.units import WEB
from avatar_tts import train as tts_training

DEMO_TEXT = (
    "Hi, how are you today? The serene lake reflected the colors of the sunset "
    "like a painter's masterpiece."
)
MODES = {
    "speak": gateway_pb2.SPEAK_MODE_SPEAK,
    "chat": gateway_pb2.SPEAK_MODE_CHAT,
    "auto": gateway_pb2.SPEAK_MODE_AUTO,
}
QUALITIES = {"low": gateway_pb2.QUALITY_LOW, "high": gateway_pb2.QUALITY_HIGH}


def _say(message: str) -> None:
    print(message, flush=True)


def client_tls(args: argparse.Namespace) -> ClientTls | None:
    """TLS settings from ``--tls-ca``, ``--tls-cert``, ``--tls-key``; None for plaintext."""
    paths = [args.tls_ca, args.tls_cert, args.tls_key]
    if not any(paths):
        return None
    ca, cert, key = (Path(path) if path else None for path in paths)
    return ClientTls(ca_file=ca, cert_file=cert, key_file=key)


def _client(args: argparse.Namespace, address: str) -> GatewayClient:
    return GatewayClient(address, tls=client_tls(args), token=args.token or "")


def format_timings(result: SpeakResult, output: Path | None) -> str:
    """Renders the timings of a Speak call like the thesis's history panel."""
    summary = result.summary
    lines = [
        f"time to first audio   {result.time_to_first_audio_seconds * 1000:8.1f} ms",
        f"time to first frame   {result.time_to_first_frame_seconds * 1000:8.1f} ms",
        f"total                 {result.total_seconds * 1000:8.1f} ms",
    ]
    if summary is not None:
        factor = result.total_seconds / summary.audio_seconds if summary.audio_seconds else 0.0
        lines += [
            f"audio                 {summary.audio_seconds:8.2f} s ({summary.frames} frames, "
            f"{summary.sentences} sentences)",
            f"real-time factor      {factor:8.3f}"
            + (f" ({1 / factor:.1f}x faster than real time)" if 0 < factor < 1 else ""),
            "stages                "
            + ", ".join(f"{s.stage} {s.seconds * 1000:.0f} ms" for s in summary.stages),
        ]
    if output is not None:
        lines.append(f"wrote {output}")
    return "\n".join(lines)


async def _speak(args: argparse.Namespace, address: str) -> int:
    request = gateway_pb2.SpeakRequest(
        avatar_id=args.avatar,
        text=args.text,
        mode=MODES[args.mode],
        quality=QUALITIES[args.quality],
        voice=args.voice or "",
        conversation_id=args.conversation or "",
        include_mp4=args.output is not None,
    )

    def show(event: gateway_pb2.SpeakResponse, elapsed: float) -> None:
        if event.WhichOneof("event") == "sentence":
            origin = " [llm]" if event.sentence.from_llm else ""
            _say(
                f"[{elapsed * 1000:7.1f} ms] sentence {event.sentence.index}{origin}: "
                f"{event.sentence.text}"
            )

    async with _client(args, address) as client:
        result = await client.speak(request, timeout=args.timeout, on_event=show)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_bytes(result.mp4)
    _say(format_timings(result, args.output))
    return 0


async def _create_avatar(args: argparse.Namespace, address: str) -> int:
    image = args.photo.read_bytes() if args.photo else sample_face()
    async with _client(args, address) as client:
        avatar = await client.create_avatar(image, args.name or "")
    for warning in avatar.warnings:
        _say(f"warning: {warning}")
    if args.poster:
        args.poster.write_bytes(avatar.poster_gif)
    if args.idle_clip:
        args.idle_clip.write_bytes(avatar.idle_clip_mp4)
    print(avatar.avatar_id)
    return 0


async def _list(args: argparse.Namespace, address: str) -> int:
    async with _client(args, address) as client:
        for avatar in await client.list_avatars():
            print(
                f"{avatar.avatar_id}  {avatar.frame_width}x{avatar.frame_height}  {avatar.display_name}"
            )
    return 0


async def _delete(args: argparse.Namespace, address: str) -> int:
    async with _client(args, address) as client:
        await client.delete_avatar(args.avatar_id)
    return 0


def _count(text: str) -> int:
    """A whole number of at least 1, for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _animators_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--animators",
        type=_count,
        default=os.environ.get("AVATAR_STACK_ANIMATORS", str(default_animators())),
        help="animator processes (one per core renders the most frames); the gateway gives each "
        "stream to the least busy (env AVATAR_STACK_ANIMATORS; default: the cores, "
        "%(default)s here)",
    )


def _up(args: argparse.Namespace) -> int:
    stack = LocalStack(
        StackPorts.defaults(animators=args.animators), host=args.host, client_tls=client_tls(args)
    )
    stopping = False

    def request_stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        stack.start()
        stack.wait_until_serving(timeout=args.start_timeout, progress=_say)
        if args.web:
            stack.start_web(port=args.web_port)
            stack.wait_until_web_serving()
            _say(f"web page on {stack.web_url}")
        _say(f"all services serving; gateway on {stack.gateway_address}. Ctrl-C stops them.")
        while not stopping:
            exited = [
                name for name, process in stack.processes.items() if process.poll() is not None
            ]
            if stack.web_process is not None and stack.web_process.poll() is not None:
                exited.append("web")
            if exited:
                _say(f"{', '.join(exited)} exited; stopping the stack")
                return 1
            time.sleep(0.5)
    except StackError as error:
        _say(f"error: {error}")
        return 1
    finally:
        _say("stopping all services")
        stack.stop()
    return 0


def _demo(args: argparse.Namespace) -> int:
    log_dir = Path(tempfile.mkdtemp(prefix="avatar-demo-logs-"))
    environment = {"AVATAR_GATEWAY_AVATAR_DIR": str(Path(tempfile.mkdtemp(prefix="avatar-store-")))}
    ports = StackPorts.defaults(animators=args.animators)
    with LocalStack(
        ports, environment=environment, log_dir=log_dir, client_tls=client_tls(args)
    ) as stack:
        _say(f"starting the stack (logs in {log_dir})")
        try:
            stack.start()
            stack.wait_until_serving(timeout=args.start_timeout, progress=_say)
        except StackError as error:
            _say(f"error: {error}")
            return 1
        return asyncio.run(_demo_requests(args, stack.gateway_address))


async def _demo_requests(args: argparse.Namespace, address: str) -> int:
    async with _client(args, address) as client:
        avatar = await client.create_avatar(sample_face(), "sample")
    _say(
        f"created the sample avatar {avatar.avatar_id} ({avatar.frame_width}x{avatar.frame_height})"
    )
    speak_args = argparse.Namespace(
        **vars(args), avatar=avatar.avatar_id, mode="speak", conversation=None, timeout=600.0
    )
    _say(f'saying: "{args.text}" ({args.quality} quality)')
    return await _speak(speak_args, address)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="avatar", description="Talking avatars over gRPC.")
    parser.add_argument(
        "--gateway",
        default=os.environ.get("AVATAR_GATEWAY", "127.0.0.1:50051"),
        help="gateway address host:port (env AVATAR_GATEWAY; default %(default)s)",
    )
    parser.add_argument(
        "--tls-ca",
        default=os.environ.get("AVATAR_TLS_CA"),
        help="PEM CA that signed the gateway's certificate: talk TLS (env AVATAR_TLS_CA)",
    )
    parser.add_argument(
        "--tls-cert",
        default=os.environ.get("AVATAR_TLS_CERT"),
        help="PEM client certificate, for a gateway that requires mutual TLS (env AVATAR_TLS_CERT)",
    )
    parser.add_argument(
        "--tls-key",
        default=os.environ.get("AVATAR_TLS_KEY"),
        help="PEM private key of --tls-cert (env AVATAR_TLS_KEY)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("AVATAR_TOKEN"),
        help="bearer token for a gateway that requires one (env AVATAR_TOKEN)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser(
        "up", help="start every service (asr too) and the web page until Ctrl-C"
    )
    up.add_argument("--host", default="127.0.0.1", help="address to listen on")
    up.add_argument(
        "--web-port",
        type=int,
        default=int(os.environ.get("AVATAR_WEB_PORT", WEB.port)),
        help="port of the web page (env AVATAR_WEB_PORT; default %(default)s)",
    )
    up.add_argument("--no-web", dest="web", action="store_false", help="do not start the web page")
    up.add_argument("--start-timeout", type=float, default=300.0)
    _animators_argument(up)

    create = commands.add_parser("create-avatar", help="create an avatar from a face photo")
    create.add_argument(
        "photo", type=Path, nargs="?", help="JPEG/PNG photo (default: the sample face)"
    )
    create.add_argument("--name", help="display name")
    create.add_argument("--poster", type=Path, help="also write the GIF poster here")
    create.add_argument("--idle-clip", type=Path, help="also write the idle clip MP4 here")

    say = commands.add_parser("say", help="make an avatar speak; prints timings")
    say.add_argument("text")
    say.add_argument("--avatar", required=True, help="avatar id from create-avatar")
    say.add_argument("-o", "--output", type=Path, help="write the MP4 here")
    say.add_argument("--quality", choices=QUALITIES, default="low")
    say.add_argument("--mode", choices=MODES, default="speak")
    say.add_argument("--voice", help="TTS voice (default: the server's)")
    say.add_argument("--conversation", help="conversation id for chat history")
    say.add_argument("--timeout", type=float, default=600.0, help="deadline, seconds")

    commands.add_parser("avatars", help="list avatars")
    delete = commands.add_parser("delete", help="delete an avatar")
    delete.add_argument("avatar_id")

    demo = commands.add_parser("demo", help="start the stack, render the sample avatar, stop")
    demo.add_argument("--output", type=Path, default=Path("out/demo.mp4"))
    demo.add_argument("--text", default=DEMO_TEXT)
    demo.add_argument("--quality", choices=QUALITIES, default="low")
    demo.add_argument("--voice")
    demo.add_argument("--start-timeout", type=float, default=300.0)
    _animators_argument(demo)

    multinode_command = commands.add_parser(
        "multinode",
        help="run each service on its own network node (root), speak, survive an animator outage",
    )
    multinode.add_arguments(multinode_command)

    train_tts = commands.add_parser(
        "train-tts", help="train or fine-tune a GlowTTS voice on an LJSpeech-format dataset"
    )
    tts_training.add_training_arguments(train_tts)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``avatar`` command."""
    args = build_parser().parse_args(argv)
    handlers = {"say": _speak, "create-avatar": _create_avatar, "avatars": _list, "delete": _delete}
    try:
        if args.command == "up":
            return _up(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "multinode":
            return multinode.run_command(args, _say)
        if args.command == "train-tts":
            return tts_training.run_training(args)
        return asyncio.run(handlers[args.command](args, args.gateway))
    except grpc.aio.AioRpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        return 2
    except (OSError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
