"""OCPP-J frames: parsing, schema validation, and the CALLERROR code each problem gets in each version.

OCPP-J 1.6 §4.2.3 and OCPP 2.0.1 Part 4 §4.2.3 name the error codes; they differ in spelling (1.6
``FormationViolation`` / ``OccurenceConstraintViolation``, 2.0.1 ``FormatViolation``) and 2.0.1 adds
``RpcFrameworkError`` (the frame itself is unreadable) and ``MessageTypeNotSupported``. A frame whose message id
cannot be read is answered with message id ``"-1"`` (OCPP 2.0.1 Part 4 §4.2.3); 1.6 uses the same convention here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import fastjsonschema
from jsonschema.exceptions import best_match
from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator

UNKNOWN_MESSAGE_ID = "-1"

# problem kind -> (OCPP 1.6 code, OCPP 2.0.1 code)
CODES: dict[str, tuple[str, str]] = {
    "not_json": ("FormationViolation", "RpcFrameworkError"),
    "bad_frame": ("ProtocolError", "RpcFrameworkError"),
    "bad_message_type": ("ProtocolError", "MessageTypeNotSupported"),
    "format": ("FormationViolation", "FormatViolation"),
    "type": ("TypeConstraintViolation", "TypeConstraintViolation"),
    "property": ("PropertyConstraintViolation", "PropertyConstraintViolation"),
    "occurrence": ("OccurenceConstraintViolation", "OccurenceConstraintViolation"),
    "missing": ("ProtocolError", "OccurenceConstraintViolation"),
    "not_implemented": ("NotImplemented", "NotImplemented"),
    "not_supported": ("NotSupported", "NotSupported"),
    "internal": ("InternalError", "InternalError"),
    "security": ("SecurityError", "SecurityError"),
}

# JSON-schema keyword that failed -> problem kind
_SCHEMA_KINDS = {
    "type": "type",
    "maxLength": "type",
    "minLength": "type",
    "additionalProperties": "format",
    "required": "missing",
    "enum": "property",
    "pattern": "property",
    "format": "property",
    "minimum": "property",
    "maximum": "property",
    "exclusiveMinimum": "property",
    "exclusiveMaximum": "property",
    "multipleOf": "property",
    "minItems": "occurrence",
    "maxItems": "occurrence",
}


class FrameError(Exception):
    """A frame or payload that cannot be processed: ``kind`` (a key of ``CODES``), the ``message_id`` to answer."""

    def __init__(self, kind: str, message_id: str, description: str) -> None:
        super().__init__(description)
        self.kind = kind
        self.message_id = message_id
        self.description = description

    def call_error(self, version: str) -> CallError:
        """The CALLERROR frame for this problem in OCPP ``version`` (``"1.6"`` or ``"2.0.1"``)."""
        code = CODES[self.kind][0 if version == "1.6" else 1]
        return CallError(self.message_id, code, self.description[:255], {})


def parse_frame(raw: str | bytes) -> Call | CallResult | CallError:
    """Read one OCPP-J frame: ``[2, id, action, {payload}]``, ``[3, id, {payload}]`` or ``[4, id, code, desc, {}]``."""
    try:
        frame = json.loads(raw, parse_float=Decimal)  # meter values stay exact
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError("not_json", UNKNOWN_MESSAGE_ID, "the frame is not valid JSON") from exc
    if not isinstance(frame, list) or len(frame) < 2 or not isinstance(frame[1], str):
        raise FrameError("bad_frame", UNKNOWN_MESSAGE_ID, "an OCPP-J frame is an array [type, messageId, ...]")
    message_type, message_id = frame[0], frame[1]
    if message_type == 2:
        if len(frame) != 4 or not isinstance(frame[2], str):
            raise FrameError("bad_frame", message_id, "a CALL is [2, messageId, action, payload]")
        if not isinstance(frame[3], dict):
            raise FrameError("format", message_id, "the CALL payload must be a JSON object")
        return Call(message_id, frame[2], frame[3])
    if message_type == 3 and len(frame) == 3:
        return CallResult(message_id, frame[2])
    if message_type == 4 and len(frame) in (4, 5):
        return CallError(message_id, frame[2], frame[3], frame[4] if len(frame) == 5 else {})
    raise FrameError(
        "bad_message_type", message_id, f"message type {message_type!r} is not CALL, CALLRESULT or CALLERROR"
    )


_compiled: dict[tuple[str, str], Callable[[Any], Any] | None] = {}


def _compiled_validator(action: str, version: str) -> Callable[[Any], Any] | None:
    """The CALL schema of ``action`` compiled to Python by fastjsonschema (cached), or ``None`` for the few schemas
    with ``multipleOf``, which only the library's validator handles as it always has."""
    key = (action, version)
    if key not in _compiled:
        schema = get_validator(MessageType.Call, action, version).schema
        compiled = None
        if "multipleOf" not in json.dumps(schema):
            # Same rules as the library's Draft4Validator: draft 4, no format checks, payload left untouched.
            draft4 = {**schema, "$schema": "http://json-schema.org/draft-04/schema#"}
            compiled = fastjsonschema.compile(draft4, use_default=False, use_formats=False, detailed_exceptions=False)
        _compiled[key] = compiled
    return _compiled[key]


def validate_call(call: Call, version: str) -> None:
    """Check a CALL payload against the version's JSON schema; raise ``FrameError`` naming the failing field.

    The compiled validator answers the common case (a valid payload) in a fraction of jsonschema's time; a payload
    it refuses goes through jsonschema, whose best error decides the CALLERROR exactly as before.
    """
    fast = _compiled_validator(call.action, version)
    if fast is not None:
        try:
            fast(call.payload)
            return
        except fastjsonschema.JsonSchemaException:
            pass
    validator = get_validator(call.message_type_id, call.action, version)
    error = best_match(validator.iter_errors(call.payload))
    if error is None:
        return
    where = "/".join(str(p) for p in error.absolute_path) or "payload"
    kind = _SCHEMA_KINDS.get(str(error.validator), "format")
    raise FrameError(kind, call.unique_id, f"{call.action} {where}: {error.message}")


def dumps(payload: Any) -> str:
    """Compact JSON as OCPP-J sends it."""
    return json.dumps(payload, separators=(",", ":"))
