"""avatar's gRPC contracts: generated stubs importable by proto package path.

``avatar.<service>.v1`` holds the ``*_pb2`` messages, ``*_pb2_grpc`` stubs and ``.pyi``
types generated from ``protos/avatar/<service>/v1/*.proto`` by ``make protos``.
"""

__version__ = "0.1.0"
