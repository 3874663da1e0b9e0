"""ONNX models read and run without the ``onnx`` package: graph nodes, extra outputs, sessions.

The neural voices' graphs compute one duration per input phoneme on the way to the audio but
do not output it. Exposing that tensor as an extra graph output makes ONNX Runtime return it
with the audio, which gives phoneme timings from the model itself. An ONNX file is a protobuf
``ModelProto``; the few fields needed here (the graph, its nodes and its outputs) are read
and appended to in the protobuf wire format directly, so the service needs no ``onnx``
package (and no second protobuf runtime version) at run time.

Field numbers are those of ``onnx.proto`` (stable since ONNX 1.0): ``ModelProto.graph`` = 7;
``GraphProto.node`` = 1, ``GraphProto.output`` = 12; ``NodeProto.input`` = 1, ``output`` = 2,
``name`` = 3, ``op_type`` = 4; ``ValueInfoProto.name`` = 1.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MODEL_GRAPH = 7
_GRAPH_NODE = 1
_GRAPH_OUTPUT = 12
_NODE_INPUT, _NODE_OUTPUT, _NODE_NAME, _NODE_OP_TYPE = 1, 2, 3, 4
_VALUE_INFO_NAME = 1
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


class OnnxModelError(ValueError):
    """The file is not an ONNX model this service can use (the message says why)."""


@dataclass(frozen=True, slots=True)
class GraphNode:
    """One operator of an ONNX graph.

    Attributes:
        name: The node's name, e.g. ``"/Ceil"``; may be empty.
        op_type: The operator, e.g. ``"Ceil"``.
        inputs: Names of the tensors it reads.
        outputs: Names of the tensors it writes.
    """

    name: str
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def _read_varint(data: memoryview, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise OnnxModelError("the file ends inside a protobuf field: truncated or not ONNX")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise OnnxModelError("a protobuf varint is too long: the file is not ONNX")


def _encode_varint(value: int) -> bytes:
    encoded = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        encoded.append(low | (0x80 if value else 0))
        if not value:
            return bytes(encoded)


def _fields(data: memoryview) -> Iterator[tuple[int, int, int, int]]:
    """Yields (field number, wire type, start, end) of every field of one message.

    ``start:end`` spans the whole field (key included) for every wire type, and the payload
    alone for length-delimited fields.
    """
    position = 0
    while position < len(data):
        start = position
        key, position = _read_varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            _, position = _read_varint(data, position)
        elif wire_type == _FIXED64:
            position += 8
        elif wire_type == _FIXED32:
            position += 4
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _read_varint(data, position)
            start, position = position, position + length
        else:
            raise OnnxModelError(f"unexpected protobuf wire type {wire_type}: the file is not ONNX")
        if number == 0 or position > len(data):
            raise OnnxModelError("a protobuf field runs past the end: truncated or not ONNX")
        yield number, wire_type, start, position


def _graph_span(model: memoryview) -> tuple[int, int, int]:
    """(key start, payload start, payload end) of the model's graph field."""
    key_start = 0
    for number, wire_type, start, end in _fields(model):
        if number == _MODEL_GRAPH and wire_type == _LENGTH_DELIMITED:
            return key_start, start, end
        key_start = end
    raise OnnxModelError("the file has no ONNX graph")


def _text(data: memoryview) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def graph_nodes(model: bytes) -> list[GraphNode]:
    """Lists the nodes of the model's main graph, in file order (a topological order).

    Raises:
        OnnxModelError: The bytes are not an ONNX model.
    """
    view = memoryview(model)
    _, graph_start, graph_end = _graph_span(view)
    graph = view[graph_start:graph_end]
    nodes = []
    for number, wire_type, start, end in _fields(graph):
        if number != _GRAPH_NODE or wire_type != _LENGTH_DELIMITED:
            continue
        node = graph[start:end]
        parts: dict[int, list[str]] = {}
        for field, field_type, field_start, field_end in _fields(node):
            if field_type == _LENGTH_DELIMITED and field <= _NODE_OP_TYPE:
                parts.setdefault(field, []).append(_text(node[field_start:field_end]))
        nodes.append(
            GraphNode(
                name="".join(parts.get(_NODE_NAME, [])),
                op_type="".join(parts.get(_NODE_OP_TYPE, [])),
                inputs=tuple(parts.get(_NODE_INPUT, [])),
                outputs=tuple(parts.get(_NODE_OUTPUT, [])),
            )
        )
    if not nodes:
        raise OnnxModelError("the ONNX graph has no nodes")
    return nodes


def with_extra_outputs(model: bytes, tensor_names: Sequence[str]) -> bytes:
    """Returns the model with intermediate tensors added to its graph's outputs.

    The added outputs carry only their names; ONNX Runtime infers their types and shapes.

    Raises:
        OnnxModelError: The bytes are not an ONNX model.
    """
    view = memoryview(model)
    key_start, graph_start, graph_end = _graph_span(view)
    added = bytearray()
    for name in tensor_names:
        encoded = name.encode()
        value_info = bytes([_VALUE_INFO_NAME << 3 | _LENGTH_DELIMITED])
        value_info += _encode_varint(len(encoded)) + encoded
        added += bytes([_GRAPH_OUTPUT << 3 | _LENGTH_DELIMITED])
        added += _encode_varint(len(value_info)) + value_info
    graph_key = _encode_varint(_MODEL_GRAPH << 3 | _LENGTH_DELIMITED)
    graph_length = _encode_varint(graph_end - graph_start + len(added))
    return b"".join(
        (
            view[:key_start],
            graph_key,
            graph_length,
            view[graph_start:graph_end],
            added,
            view[graph_end:],
        )
    )


def nodes_of(model: bytes, source: str) -> list[GraphNode]:
    """:func:`graph_nodes`, with errors that name where the model came from.

    Raises:
        OnnxModelError: The bytes are not an ONNX model.
    """
    try:
        return graph_nodes(model)
    except OnnxModelError as error:
        raise OnnxModelError(f"{source} is not a usable ONNX model: {error}") from error


def consumer_of(nodes: Sequence[GraphNode], tensor: str, op_type: str) -> GraphNode | None:
    """The first node of type ``op_type`` that reads ``tensor``, if any."""
    return next((n for n in nodes if n.op_type == op_type and tensor in n.inputs), None)


def read_model(path: str | Path) -> bytes:
    """Reads an ONNX file, with errors that name it.

    Raises:
        OnnxModelError: The file is missing, unreadable or empty.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise OnnxModelError(f"cannot read {path}: {error.strerror or error}") from error
    if not data:
        raise OnnxModelError(f"{path} is empty")
    return data


def inference_session(model: bytes, threads: int, source: str) -> Any:
    """Builds a CPU ONNX Runtime session for the model's bytes.

    Args:
        model: The (possibly edited) model.
        threads: Intra-op threads; one per session keeps concurrent streams from fighting.
        source: Where the model came from, for error messages.

    Raises:
        OnnxModelError: ONNX Runtime is missing or refuses the model.
    """
    try:
        import onnxruntime
    except ImportError as error:
        raise OnnxModelError("onnxruntime is not installed: pip install onnxruntime") from error
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # its warnings about unused initialisers are noise here
    try:
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        message = str(error).splitlines()[0] if str(error) else repr(error)
        raise OnnxModelError(f"ONNX Runtime cannot load {source}: {message}") from error
