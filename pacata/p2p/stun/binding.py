"""The Binding method (RFC 5389 §7.3, §12; RFC 5780 §6.1): the request a client sends, the
response of a server with one address, and what a client reads in a response.

Rules (section numbers are RFC 5389's unless named otherwise):

- Server (§7.3): a Binding request is answered with XOR-MAPPED-ADDRESS (§15.2), SOFTWARE and
  FINGERPRINT. An unknown comprehension-required attribute (type < 0x8000) gets a 420 error
  response listing it in UNKNOWN-ATTRIBUTES (§7.3.1); a request of another method gets 400.
- Classic RFC 3489 clients (§12.2): the 16-byte transaction id is echoed and the address goes
  in MAPPED-ADDRESS, without FINGERPRINT (their parsers refuse attributes they do not know).
  CHANGE-REQUEST (RFC 3489 §11.2.4, RFC 5780 §7.2) is understood: with no flag set it asks for
  nothing and the request is answered as usual; asking for another address or port, which a
  node with one address cannot give, gets the 420 error RFC 5780 §6.1 requires.
- Client: a request carries FINGERPRINT and no other attribute; the address a success response
  reports is its XOR-MAPPED-ADDRESS, or the MAPPED-ADDRESS of an RFC 3489 server (§12.1.2).
"""

from __future__ import annotations

from enum import IntEnum

from pacata.errors import DecodeError
from pacata.p2p.stun.attributes import (
    CHANGE_IP_FLAG,
    CHANGE_PORT_FLAG,
    decode_change_request,
    decode_error_code,
    decode_mapped_address,
    decode_xor_mapped_address,
    encode_error_code,
    encode_mapped_address,
    encode_unknown_attributes,
    encode_xor_mapped_address,
)
from pacata.p2p.stun.messages import AttributeType, MessageClass, Method, StunAttribute, StunMessage
from pacata.p2p.udp_address import Address

SOFTWARE_DESCRIPTION = "pacata"


class ErrorCode(IntEnum):
    BAD_REQUEST = 400
    UNKNOWN_ATTRIBUTE = 420


_REASONS = {ErrorCode.BAD_REQUEST: "Bad Request", ErrorCode.UNKNOWN_ATTRIBUTE: "Unknown Attribute"}


def _error_response(request: StunMessage, code: ErrorCode, unknown: tuple[int, ...]) -> StunMessage:
    attributes = [StunAttribute(AttributeType.ERROR_CODE, encode_error_code(code, _REASONS[code]))]
    if unknown:
        if request.classic and len(unknown) % 2:
            unknown += unknown[-1:]  # RFC 3489 §11.2.10: an odd list repeats one entry
        value = encode_unknown_attributes(unknown)
        attributes.append(StunAttribute(AttributeType.UNKNOWN_ATTRIBUTES, value))
    if not request.classic:
        attributes.append(StunAttribute(AttributeType.SOFTWARE, SOFTWARE_DESCRIPTION.encode()))
    return StunMessage(
        MessageClass.ERROR_RESPONSE,
        request.method,
        request.transaction_id,
        tuple(attributes),
        fingerprint=not request.classic,
    )


def answer_request(request: StunMessage, source: Address) -> StunMessage:
    """The response of a server with one address to `request` (a request) from `source`."""
    if request.method != Method.BINDING:
        return _error_response(request, ErrorCode.BAD_REQUEST, ())
    unknown = request.unknown_required_attributes()
    if unknown:
        return _error_response(request, ErrorCode.UNKNOWN_ATTRIBUTE, unknown)
    change = request.attribute(AttributeType.CHANGE_REQUEST)
    if change is not None:
        try:
            flags = decode_change_request(change)
        except DecodeError:
            return _error_response(request, ErrorCode.BAD_REQUEST, ())
        if flags & (CHANGE_IP_FLAG | CHANGE_PORT_FLAG):
            # RFC 5780 §6.1: no alternate address, so 420.
            return _error_response(
                request, ErrorCode.UNKNOWN_ATTRIBUTE, (AttributeType.CHANGE_REQUEST,)
            )
    if request.classic:
        mapped = StunAttribute(AttributeType.MAPPED_ADDRESS, encode_mapped_address(source))
        return StunMessage(
            MessageClass.SUCCESS_RESPONSE, Method.BINDING, request.transaction_id, (mapped,)
        )
    attributes = (
        StunAttribute(
            AttributeType.XOR_MAPPED_ADDRESS,
            encode_xor_mapped_address(source, request.transaction_id),
        ),
        StunAttribute(AttributeType.SOFTWARE, SOFTWARE_DESCRIPTION.encode()),
    )
    return StunMessage(
        MessageClass.SUCCESS_RESPONSE,
        Method.BINDING,
        request.transaction_id,
        attributes,
        fingerprint=True,
    )


def binding_request(transaction_id: bytes) -> StunMessage:
    """An RFC 5389 Binding request with FINGERPRINT and no other attribute."""
    return StunMessage(MessageClass.REQUEST, Method.BINDING, transaction_id, fingerprint=True)


def mapped_address_of(message: StunMessage) -> Address:
    """The address a Binding success response reports; `DecodeError` when it reports none."""
    xor_mapped = message.attribute(AttributeType.XOR_MAPPED_ADDRESS)
    if xor_mapped is not None:
        return decode_xor_mapped_address(xor_mapped, message.transaction_id)
    mapped = message.attribute(AttributeType.MAPPED_ADDRESS)
    if mapped is not None:  # an RFC 3489 server (§12.1.2)
        return decode_mapped_address(mapped)
    raise DecodeError("a Binding success response without a mapped address")


def describe_error(message: StunMessage) -> str:
    """Why an error response failed the transaction, from its ERROR-CODE."""
    value = message.attribute(AttributeType.ERROR_CODE)
    if value is None:
        return "error response without ERROR-CODE"
    try:
        code, reason = decode_error_code(value)
    except DecodeError as error:
        return f"error response with a bad ERROR-CODE: {error}"
    return f"error {code} {reason}"
