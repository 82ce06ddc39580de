"""dynclamp: Python client of the dynclamp daemon (dynclampd).

Connect with :class:`Client`; every call of the daemon's gRPC API is a method
(specs, parameters, runs, protocols, streams as numpy, the queue, the rig lock,
recordings). Errors are the typed exceptions of :mod:`dynclamp.errors`;
recordings are read with :mod:`dynclamp.nwb`. The generated messages and stubs
are in :mod:`dynclamp.v1`.
"""
from . import errors, files, nwb
from .client import ENDED, Client, LiveParameter
from .errors import (Aborted, AlreadyExists, Cancelled, DataLoss,
                     DeadlineExceeded, DynclampError, FailedPrecondition,
                     Internal, InvalidArgument, NotFound, OutOfRange,
                     PermissionDenied, ResourceExhausted, Unauthenticated,
                     Unavailable)
from .stream import Block, Stream, Trace, envelope
from .v1 import (models_pb2, protocol_pb2, queue_pb2, recordings_pb2,
                 rig_pb2, runs_pb2, spec_pb2, stream_pb2)

__version__ = "@DYNCLAMP_VERSION@"

__all__ = [
    "errors", "files", "nwb", "Client", "LiveParameter", "ENDED", "Block", "Stream", "Trace", "envelope",
    "DynclampError", "InvalidArgument", "NotFound", "FailedPrecondition",
    "PermissionDenied", "Unauthenticated", "ResourceExhausted", "Unavailable",
    "DeadlineExceeded", "Aborted", "DataLoss", "Cancelled", "AlreadyExists",
    "OutOfRange", "Internal",
    "models_pb2", "protocol_pb2", "queue_pb2", "recordings_pb2", "rig_pb2",
    "runs_pb2", "spec_pb2", "stream_pb2",
]
