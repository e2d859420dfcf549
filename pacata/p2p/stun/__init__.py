"""STUN Binding (RFC 5389, with RFC 3489 clients and RFC 5780's CHANGE-REQUEST), sans-I/O: every
node answers on its UDP port, every node asks its peers for its reflexive address.

The parts, each with its rules:

- `messages`: the message codec, `StunMessage`, FINGERPRINT and `is_stun`.
- `attributes`: the values of the attributes (addresses, ERROR-CODE, UNKNOWN-ATTRIBUTES,
  CHANGE-REQUEST).
- `binding`: the Binding method: `binding_request`, `answer_request` (the server side) and
  reading a response.
- `agent`: `StunAgent`, the server and client sides on one port, its transactions,
  `RetransmissionPolicy` and events.
"""

from pacata.p2p.stun.agent import (
    DEFAULT_RETRANSMISSION,
    BindingFailed,
    BindingSucceeded,
    RetransmissionPolicy,
    StunAgent,
    StunEvent,
)
from pacata.p2p.stun.attributes import (
    CHANGE_IP_FLAG,
    CHANGE_PORT_FLAG,
    MAX_REASON_BYTES,
    decode_change_request,
    decode_error_code,
    decode_mapped_address,
    decode_unknown_attributes,
    decode_xor_mapped_address,
    encode_error_code,
    encode_mapped_address,
    encode_unknown_attributes,
    encode_xor_mapped_address,
)
from pacata.p2p.stun.binding import SOFTWARE_DESCRIPTION, ErrorCode, answer_request, binding_request
from pacata.p2p.stun.messages import (
    CLASSIC_TRANSACTION_ID_SIZE,
    FINGERPRINT_SIZE,
    FINGERPRINT_XOR,
    HEADER_SIZE,
    MAGIC_COOKIE,
    MAGIC_COOKIE_BYTES,
    MAX_ATTRIBUTES,
    MAX_MESSAGE_SIZE,
    TRANSACTION_ID_SIZE,
    AttributeType,
    MessageClass,
    Method,
    StunAttribute,
    StunMessage,
    decode_message_type,
    encode_message_type,
    fingerprint_of,
    is_comprehension_required,
    is_stun,
)

__all__ = [
    "CHANGE_IP_FLAG",
    "CHANGE_PORT_FLAG",
    "CLASSIC_TRANSACTION_ID_SIZE",
    "DEFAULT_RETRANSMISSION",
    "FINGERPRINT_SIZE",
    "FINGERPRINT_XOR",
    "HEADER_SIZE",
    "MAGIC_COOKIE",
    "MAGIC_COOKIE_BYTES",
    "MAX_ATTRIBUTES",
    "MAX_MESSAGE_SIZE",
    "MAX_REASON_BYTES",
    "SOFTWARE_DESCRIPTION",
    "TRANSACTION_ID_SIZE",
    "AttributeType",
    "BindingFailed",
    "BindingSucceeded",
    "ErrorCode",
    "MessageClass",
    "Method",
    "RetransmissionPolicy",
    "StunAgent",
    "StunAttribute",
    "StunEvent",
    "StunMessage",
    "answer_request",
    "binding_request",
    "decode_change_request",
    "decode_error_code",
    "decode_mapped_address",
    "decode_message_type",
    "decode_unknown_attributes",
    "decode_xor_mapped_address",
    "encode_error_code",
    "encode_mapped_address",
    "encode_message_type",
    "encode_unknown_attributes",
    "encode_xor_mapped_address",
    "fingerprint_of",
    "is_comprehension_required",
    "is_stun",
]
