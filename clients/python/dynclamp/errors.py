"""Typed errors of dynclamp calls.

Every failed call raises a :class:`DynclampError` subclass chosen by the gRPC
status code. ``field`` is the path of the field the daemon refused, as you
wrote it (``"sweeps[0].stimuli[0].epochs[1].duration_s"``), when it names one.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


class DynclampError(Exception):
    """A call to dynclampd failed.

    Attributes:
        code: the gRPC status code.
        message: the daemon's message.
        field: the first refused field's path, or None.
        fields: every (field, reason) the daemon listed.
    """

    def __init__(self, code: grpc.StatusCode, message: str,
                 fields: Optional[List[Tuple[str, str]]] = None):
        self.code = code
        self.message = message
        self.fields = list(fields or [])
        self.field: Optional[str] = self.fields[0][0] if self.fields else None
        super().__init__(f"{code.name}: {message}")


class InvalidArgument(DynclampError):
    """The request is wrong (see ``field``); nothing was changed."""


class NotFound(DynclampError):
    """No such signal, parameter, cell, item or recording."""


class AlreadyExists(DynclampError):
    pass


class FailedPrecondition(DynclampError):
    """Not now: a run is active, none is, or the rig is in FAULT."""


class PermissionDenied(DynclampError):
    """The token's role, or another operator's rig lock, forbids it."""


class Unauthenticated(DynclampError):
    """No token, or an unknown one."""


class ResourceExhausted(DynclampError):
    """A limit of the daemon (its message names the flag), or the disk."""


class OutOfRange(DynclampError):
    pass


class Aborted(DynclampError):
    """The stream ended because the rig was reconfigured."""


class Unavailable(DynclampError):
    """The daemon cannot be reached, or is shutting down."""


class DeadlineExceeded(DynclampError):
    pass


class Cancelled(DynclampError):
    pass


class DataLoss(DynclampError):
    """Bytes were lost or do not match, e.g. a download's checksum."""


class Internal(DynclampError):
    pass


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.DATA_LOSS: DataLoss,
    grpc.StatusCode.INTERNAL: Internal,
}


def _status_messages():
    """google.rpc.Status and BadRequest, in a private descriptor pool: no
    clash with googleapis-common-protos if it is installed too."""
    f = descriptor_pb2.FileDescriptorProto(
        name="dynclamp_private/google_rpc_status.proto", package="google.rpc",
        syntax="proto3")
    any_t = f.message_type.add(name="Any")
    any_t.field.add(name="type_url", number=1, type=9, label=1)
    any_t.field.add(name="value", number=2, type=12, label=1)
    st = f.message_type.add(name="Status")
    st.field.add(name="code", number=1, type=5, label=1)
    st.field.add(name="message", number=2, type=9, label=1)
    st.field.add(name="details", number=3, type=11, label=3,
                 type_name=".google.rpc.Any")
    br = f.message_type.add(name="BadRequest")
    fv = br.nested_type.add(name="FieldViolation")
    fv.field.add(name="field", number=1, type=9, label=1)
    fv.field.add(name="description", number=2, type=9, label=1)
    br.field.add(name="field_violations", number=1, type=11, label=3,
                 type_name=".google.rpc.BadRequest.FieldViolation")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    get = getattr(message_factory, "GetMessageClass", None)
    if get is None:  # protobuf < 4.22
        factory = message_factory.MessageFactory(pool)
        get = lambda d: factory.GetPrototype(d)  # noqa: E731
    return (get(pool.FindMessageTypeByName("google.rpc.Status")),
            get(pool.FindMessageTypeByName("google.rpc.BadRequest")))


_Status, _BadRequest = _status_messages()
_BAD_REQUEST_URL = "type.googleapis.com/google.rpc.BadRequest"


def field_violations(error: grpc.RpcError) -> List[Tuple[str, str]]:
    """The (field, reason) pairs of an INVALID_ARGUMENT's google.rpc.BadRequest
    (the "grpc-status-details-bin" trailer)."""
    out: List[Tuple[str, str]] = []
    trailers = getattr(error, "trailing_metadata", lambda: None)() or ()
    for key, value in trailers:
        if key != "grpc-status-details-bin":
            continue
        status = _Status.FromString(value)
        for any_ in status.details:
            if any_.type_url == _BAD_REQUEST_URL:
                bad = _BadRequest.FromString(any_.value)
                out += [(v.field, v.description) for v in bad.field_violations]
    return out


def from_rpc_error(error: grpc.RpcError) -> DynclampError:
    """The typed error for a failed gRPC call."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    cls = _BY_CODE.get(code, DynclampError)
    return cls(code, details or "", field_violations(error))
