"""Specs, protocols and sessions from YAML or JSON files, their text, or
plain dicts.

The files are the ones the ``dynclamp`` CLI reads (``examples/``): field names
as in the .proto (snake_case) or lowerCamelCase. A field that does not exist,
or a value of the wrong type, is refused before anything is sent, naming the
field as written (``conductances[0].ligand_gated.g_max_ns``) and the reason.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Mapping, Optional, Tuple, Type, TypeVar, Union

import yaml
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from .errors import InvalidArgument
from .v1 import protocol_pb2, spec_pb2

import grpc

M = TypeVar("M", bound=Message)


@dataclasses.dataclass(frozen=True)
class Text:
    """A file's text that is not on this machine's disk (an upload, a
    database field): parsed as the file, and stored with the recording."""
    text: str
    name: str = "file"


#: A spec, protocol or session as a file path, its Text, a dict, or the
#: message.
Source = Union[str, "os.PathLike[str]", Text, Mapping[str, Any], Message]


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
    if isinstance(source, Text):
        return parse_text(source.text, message_type, source.name)
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        with open(name, encoding="utf-8") as f:
            return parse_text(f.read(), message_type, name)
    return _from_data(source, message_type, what), ""


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
    data = _plain(data)
    problem = _check(data, message_type.DESCRIPTOR, "")
    if problem is not None:
        field, reason = problem
        where = f"{field}: " if field else ""
        raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT,
                              f"{name}: {where}{reason}",
                              [(field, reason)] if field else [])
    message = message_type()
    try:
        json_format.ParseDict(data, message)
    except json_format.ParseError as e:  # what _check does not foresee
        raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT,
                              f"{name}: {e}") from None
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


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check(data: Any, descriptor: Descriptor,
           path: str) -> Optional[Tuple[str, str]]:
    """The first field of ``data`` that ``descriptor`` cannot take, as
    (path as written, reason), or None. Keys are the .proto's names or their
    lowerCamelCase forms, as the JSON mapping accepts."""
    if not isinstance(data, Mapping):
        return path, (f"expected a mapping of fields of "
                      f"{descriptor.name}, got {_shown(data)}")
    chosen = {}
    for key, value in data.items():
        field = (descriptor.fields_by_name.get(key) or
                 next((f for f in descriptor.fields if f.json_name == key),
                      None))
        where = _join(path, key)
        if field is None:
            names = ", ".join(f.name for f in descriptor.fields)
            return where, (f"no such field in {descriptor.name} "
                           f"(its fields: {names})")
        if value is None:
            continue
        group = field.containing_oneof
        if group is not None:
            if group.name in chosen:
                names = ", ".join(f.name for f in group.fields)
                return where, (f"give one of {names}, not both "
                               f"'{chosen[group.name]}' and '{key}'")
            chosen[group.name] = key
        if field.label == FieldDescriptor.LABEL_REPEATED:
            if not isinstance(value, list):
                return where, f"expected a list, got {_shown(value)}"
            for i, item in enumerate(value):
                problem = _check_value(item, field, f"{where}[{i}]")
                if problem is not None:
                    return problem
        else:
            problem = _check_value(value, field, where)
            if problem is not None:
                return problem
    return None


def _check_value(value: Any, field: FieldDescriptor,
                 where: str) -> Optional[Tuple[str, str]]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return _check(value, field.message_type, where)
    if kind == FieldDescriptor.TYPE_ENUM:
        names = [v.name for v in field.enum_type.values]
        if value in names or (isinstance(value, int) and
                              not isinstance(value, bool) and
                              value in field.enum_type.values_by_number):
            return None
        return where, f"{_shown(value)} is not one of {', '.join(names)}"
    if kind == FieldDescriptor.TYPE_BOOL:
        if isinstance(value, bool):
            return None
        return where, f"expected true or false, got {_shown(value)}"
    if kind in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        if isinstance(value, str):
            return None
        return where, f"expected text, got {_shown(value)} (quote it)"
    number = _number(value)
    if number is None:
        return where, f"expected a number, got {_shown(value)}"
    if not math.isfinite(number):
        return where, f"must be a finite number, got {_shown(value)}"
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return None
    if number != int(number):
        return where, f"expected a whole number, got {_shown(value)}"
    return None


def _number(value: Any) -> Optional[float]:
    # The JSON mapping also takes numbers written as text ("1e3", "NaN").
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."


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
