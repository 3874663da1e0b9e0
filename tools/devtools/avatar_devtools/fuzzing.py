"""Fuzzing of gRPC services: Hypothesis-generated messages and raw bytes against every RPC.

:func:`message_strategy` builds a Hypothesis strategy for any protobuf message from its
descriptor (every field, oneofs, nested messages, repeated fields, unknown enum values,
NaN and infinities), with per-field overrides that mix in valid values so that calls
get past the first check (:mod:`avatar_devtools.fuzz_overrides`). :class:`Fuzzer` sends
such messages, well-formed or shuffled streams of them, and raw bytes through a generic
channel method with identity serialisers, to every RPC of the services it is given, and
tallies the status codes.

A server passes when no call ends with INTERNAL or UNKNOWN (a crash), DEADLINE_EXCEEDED
(a hang) or UNAVAILABLE (a dead server): bad input must get a clear status. The calls use
the synchronous gRPC client from the calling thread, so the servers may run in this
process's event loop (tests) or in other processes (the long benchmark).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from avatar.animator.v1 import animator_pb2
from avatar.enhancer.v1 import enhancer_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar.llm.v1 import llm_pb2
from avatar.tts.v1 import tts_pb2

SERVICES = {
    "gateway": gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"],
    "llm": llm_pb2.DESCRIPTOR.services_by_name["LlmService"],
    "tts": tts_pb2.DESCRIPTOR.services_by_name["TtsService"],
    "animator": animator_pb2.DESCRIPTOR.services_by_name["AnimatorService"],
    "enhancer": enhancer_pb2.DESCRIPTOR.services_by_name["EnhancerService"],
}
ACCEPTED_CODES = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
"""Statuses a fuzzed call may end with; anything else is a finding."""

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}

# Everyday values, drawn as often as arbitrary ones (NaN, infinities, extremes), so
# that a message with several number fields still gets past validation now and then.
_TYPICAL_FLOATS = (0.0, 0.5, 1.0, 25.0)

Overrides = Mapping[str, st.SearchStrategy]
"""Strategies by full field name, e.g. ``"avatar.tts.v1.SynthesizeRequest.text"``."""


def _scalar(field_descriptor: FieldDescriptor) -> st.SearchStrategy:
    kind = field_descriptor.type
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        edges = sorted({low, high, 0, 1, min(high, 2**31)})
        return st.one_of(st.sampled_from(edges), st.integers(low, high))
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return st.one_of(st.sampled_from(_TYPICAL_FLOATS), st.floats())
    if kind == FieldDescriptor.TYPE_FLOAT:
        return st.one_of(st.sampled_from(_TYPICAL_FLOATS), st.floats(width=32))
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=24)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_ENUM:
        numbers = [value.number for value in field_descriptor.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-3, 50))
    raise TypeError(f"unsupported field type {kind} of {field_descriptor.full_name}")


def _field_strategy(
    field_descriptor: FieldDescriptor, depth: int, overrides: Overrides
) -> st.SearchStrategy:
    single = overrides.get(field_descriptor.full_name)
    if single is None:
        if field_descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            single = message_strategy(field_descriptor.message_type, depth - 1, overrides)
        else:
            single = _scalar(field_descriptor)
    if field_descriptor.is_repeated:
        return st.lists(single, max_size=3 if depth > 0 else 0)
    return single


def message_strategy(
    descriptor: Descriptor, depth: int = 3, overrides: Overrides | None = None
) -> st.SearchStrategy[Message]:
    """A strategy of messages of ``descriptor``'s type with every field possibly set.

    Args:
        descriptor: The message type.
        depth: How deep nested messages are filled; deeper ones stay empty.
        overrides: Strategies for particular fields (their single values).
    """
    overrides = overrides or {}
    message_class = GetMessageClass(descriptor)
    if depth < 0:
        return st.just(message_class())
    oneof_fields = {f.name for oneof in descriptor.oneofs for f in oneof.fields}
    plain = {
        f.name: (_field_strategy(f, depth, overrides), f.full_name in overrides)
        for f in descriptor.fields
        if f.name not in oneof_fields
    }
    choices = [
        st.one_of(
            st.just(None),
            *(
                st.tuples(st.just(f.name), _field_strategy(f, depth, overrides))
                for f in oneof.fields
            ),
        )
        for oneof in descriptor.oneofs
    ]

    @st.composite
    def build(draw: Callable[[st.SearchStrategy], Any]) -> Message:
        values: dict[str, Any] = {}
        for name, (strategy, key_field) in plain.items():
            # A field with an override (an id, a photo, the text) is nearly always set;
            # the others one time in three, as most requests leave most fields unset.
            if draw(st.integers(0, 9)) < (9 if key_field else 3):
                values[name] = draw(strategy)
        for choice in choices:
            picked = draw(choice)
            if picked is not None:
                values[picked[0]] = picked[1]
        return message_class(**values)

    return build()


def stream_strategy(
    descriptor: Descriptor, overrides: Overrides | None = None
) -> st.SearchStrategy[list[Message]]:
    """Request streams: well-formed (config, payload, end) or any sequence of messages.

    ``descriptor`` is a request type with a ``message`` oneof whose first field is the
    config and last field the end marker (the avatar stream convention).
    """
    overrides = overrides or {}
    message_class = GetMessageClass(descriptor)
    oneof = descriptor.oneofs_by_name["message"]
    config_field, *payload_fields, end_field = oneof.fields

    def one(field_descriptor: FieldDescriptor) -> st.SearchStrategy[Message]:
        value = _field_strategy(field_descriptor, 3, overrides)
        return value.map(lambda v, name=field_descriptor.name: message_class(**{name: v}))

    payload = st.one_of(*(one(f) for f in payload_fields))
    well_formed = st.tuples(one(config_field), st.lists(payload, max_size=4), one(end_field)).map(
        lambda parts: [parts[0], *parts[1], parts[2]]
    )
    shuffled = st.lists(message_strategy(descriptor, 3, overrides), max_size=5)
    return st.one_of(well_formed, well_formed, shuffled)


@dataclass(frozen=True)
class Rpc:
    """One method of a service, callable through a generic channel method."""

    service: str
    method: MethodDescriptor

    @property
    def path(self) -> str:
        """``/package.Service/Method``."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def name(self) -> str:
        """``Service/Method``, short."""
        return f"{self.method.containing_service.name}/{self.method.name}"

    def callable(self, channel: grpc.Channel, raw: bool) -> Any:
        """The channel's multi-callable; ``raw`` sends and receives bytes as they are."""
        request = GetMessageClass(self.method.input_type)
        response = GetMessageClass(self.method.output_type)
        serializer = None if raw else request.SerializeToString
        deserializer = None if raw else response.FromString
        kind = (self.method.client_streaming, self.method.server_streaming)
        factory = {
            (False, False): channel.unary_unary,
            (False, True): channel.unary_stream,
            (True, False): channel.stream_unary,
            (True, True): channel.stream_stream,
        }[kind]
        return factory(self.path, request_serializer=serializer, response_deserializer=deserializer)


def all_rpcs(services: list[str] | None = None) -> list[Rpc]:
    """Every RPC of the named services (all five by default)."""
    names = services or list(SERVICES)
    return [Rpc(name, method) for name in names for method in SERVICES[name].methods]


@dataclass
class Finding:
    """A call that ended with a status bad input must never get."""

    rpc: str
    code: str
    details: str
    request: str


@dataclass
class FuzzReport:
    """What a fuzzing run did and found."""

    cases: int = 0
    seconds: float = 0.0
    codes: collections.Counter = field(default_factory=collections.Counter)
    per_rpc: collections.Counter = field(default_factory=collections.Counter)
    per_rpc_code: collections.Counter = field(default_factory=collections.Counter)
    findings: list[Finding] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "cases": self.cases,
            "seconds": round(self.seconds, 1),
            "errors": len(self.findings),
            "codes": dict(self.codes.most_common()),
            "cases_per_rpc": dict(self.per_rpc),
            "codes_per_rpc": {
                f"{rpc} {code}": count for (rpc, code), count in sorted(self.per_rpc_code.items())
            },
            "findings": [vars(finding) for finding in self.findings[:20]],
        }


class Fuzzer:
    """Sends generated requests to running services and tallies the outcomes.

    Args:
        addresses: ``host:port`` of each service name to fuzz.
        overrides: Field strategies mixing in valid values (ids, photos, ...).
        timeout: Deadline of each call; running into it counts as a hang.
        derandomize: Same cases on every run (for tests) instead of new ones.
    """

    def __init__(
        self,
        addresses: Mapping[str, str],
        overrides: Overrides | None = None,
        timeout: float = 30.0,
        derandomize: bool = False,
    ) -> None:
        self.addresses = dict(addresses)
        self.overrides = dict(overrides or {})
        self.timeout = timeout
        self.derandomize = derandomize
        self.report = FuzzReport()
        options = [
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ]
        self._channels = {
            name: grpc.insecure_channel(address, options=options)
            for name, address in self.addresses.items()
        }

    def close(self) -> None:
        """Closes the channels."""
        for channel in self._channels.values():
            channel.close()

    def run(self, messages_per_rpc: int, raw_per_rpc: int) -> FuzzReport:
        """Fuzzes every RPC of the services: typed messages, then raw bytes."""
        started = time.perf_counter()
        for rpc in all_rpcs(list(self.addresses)):
            if messages_per_rpc:
                self._fuzz(rpc, self._requests(rpc), messages_per_rpc, raw=False)
            if raw_per_rpc:
                raw = st.binary(max_size=256)
                requests = st.lists(raw, max_size=4) if rpc.method.client_streaming else raw
                self._fuzz(rpc, requests, raw_per_rpc, raw=True)
        self.report.seconds += time.perf_counter() - started
        return self.report

    def _requests(self, rpc: Rpc) -> st.SearchStrategy:
        if rpc.method.client_streaming:
            return stream_strategy(rpc.method.input_type, self.overrides)
        return message_strategy(rpc.method.input_type, 3, self.overrides)

    def _fuzz(self, rpc: Rpc, requests: st.SearchStrategy, count: int, raw: bool) -> None:
        method = rpc.callable(self._channels[rpc.service], raw)

        @settings(
            max_examples=count,
            deadline=None,
            database=None,
            derandomize=self.derandomize,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(requests)
        def case(request: Any) -> None:
            code, details = self._call(method, rpc, request)
            self.report.cases += 1
            self.report.per_rpc[rpc.name] += 1
            self.report.codes[code.name] += 1
            self.report.per_rpc_code[rpc.name, code.name] += 1
            if code not in ACCEPTED_CODES:
                shown = repr(request)
                self.report.findings.append(
                    Finding(rpc.name, code.name, details[:300], shown[:500])
                )

        case()

    def _call(self, method: Any, rpc: Rpc, request: Any) -> tuple[grpc.StatusCode, str]:
        argument = iter(request) if rpc.method.client_streaming else request
        try:
            result = method(argument, timeout=self.timeout)
            if rpc.method.server_streaming:
                _drain(result)
        except grpc.RpcError as error:
            return error.code(), error.details() or ""
        return grpc.StatusCode.OK, ""


def _drain(responses: Iterator[Any]) -> None:
    for _ in responses:
        pass
