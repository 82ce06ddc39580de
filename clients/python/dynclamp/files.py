"""Specs, protocols and sessions from YAML or JSON files, or plain dicts.

The files are the ones the ``dynclamp`` CLI reads (``examples/``): field names
as in the .proto (snake_case) or lowerCamelCase; an unknown or mistyped field
is refused, naming it.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Tuple, Type, TypeVar, Union

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message

from .errors import InvalidArgument
from .v1 import protocol_pb2, spec_pb2

import grpc

M = TypeVar("M", bound=Message)
#: A spec, protocol or session as a file path, a dict, or the message.
Source = Union[str, "os.PathLike[str]", Mapping[str, Any], Message]


def parse(source: Source, message_type: Type[M],
          what: str = "file") -> Tuple[M, str]:
    """The message and the text to store with it in recordings (the file as
    written, or "" for a dict or a message).

    Raises:
        InvalidArgument: the file cannot be parsed, or names a field that
            does not exist (``field`` is its path).
        FileNotFoundError: no such file.
    """
    if isinstance(source, message_type):
        return source, ""
    if isinstance(source, Message):
        raise TypeError(f"{what}: a {type(source).__name__} is not a "
                        f"{message_type.DESCRIPTOR.name}")
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        with open(name, encoding="utf-8") as f:
            return parse_text(f.read(), message_type, name)
    return _from_data(dict(source), message_type, what), ""


def parse_text(text: str, message_type: Type[M],
               name: str = "file") -> Tuple[M, str]:
    """As :func:`parse`, for the text of a file (``name`` says which in
    errors)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT,
                              f"{name}: {e}") from None
    return _from_data({} if data is None else data, message_type, name), text


def _from_data(data: Any, message_type: Type[M], name: str) -> M:
    if not isinstance(data, Mapping):
        raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT,
                              f"{name}: expected a mapping at the top")
    message = message_type()
    try:
        json_format.ParseDict(_plain(data), message)
    except json_format.ParseError as e:
        raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT,
                              f"{name}: {e}", _field_of(str(e))) from None
    return message


def _plain(value: Any) -> Any:
    # YAML dates and the like as text; the JSON mapping takes the rest.
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _field_of(message: str):
    # protobuf: 'Failed to parse x field: ...' / 'Message type "T" has no
    # field named "x" at "Spec.conductances[0]".'
    import re
    m = re.search(r'field named "([^"]+)" at "([^"]+)"', message)
    if m:
        path = m.group(2).split(".", 1)
        where = path[1] + "." if len(path) > 1 else ""
        return [(where + m.group(1), message)]
    return []


def spec(source: Source) -> Tuple[spec_pb2.Spec, str]:
    """A Spec (conductances, synapses, model cells...) and its text."""
    return parse(source, spec_pb2.Spec, "spec")


def protocol(source: Source) -> Tuple[protocol_pb2.Protocol, str]:
    """A Protocol (sweeps of stimuli, repetitions, QC) and its text."""
    return parse(source, protocol_pb2.Protocol, "protocol")


def session(source: Optional[Source]) -> Optional[protocol_pb2.Session]:
    """Session metadata (subject, experimenter...), or None."""
    if source is None:
        return None
    return parse(source, protocol_pb2.Session, "session")[0]
