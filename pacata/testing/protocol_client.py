"""A minimal peer that speaks the real protocol (TLS, hello, frames) through the real
`PeerConnection`, for tests that play a misbehaving or scripted peer against a node."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pacata.chain.keys import PrivateKey
from pacata.p2p.connection import ConnectionClosed, MessageReceived, PeerConnection
from pacata.p2p.messages import PROTOCOL_VERSION, Hello, Message, Role, TlsBinding
from pacata.p2p.records import NodeRecord
from pacata.p2p.tls import TlsIdentity, certificate_hash

READ_TIMEOUT_S = 10.0


class PeerRefused(ConnectionError):
    """The node closed the connection before the handshake finished."""


@dataclass
class ProtocolClient:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    connection: PeerConnection
    clock: float = 0.0

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        key: PrivateKey,
        chain_id: str,
        genesis_hash: bytes,
        tip_height: int = 0,
        tip_hash: bytes | None = None,
        source_host: str | None = None,
    ) -> ProtocolClient:
        identity = TlsIdentity.generate()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host,
                    port,
                    ssl=identity.client_context(),
                    server_hostname="",
                    local_addr=(source_host, 0) if source_host else None,
                ),
                READ_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as exc:
            raise PeerRefused(f"TLS connection refused: {exc}") from None
        ssl_object = writer.get_extra_info("ssl_object")
        peer_certificate = None if ssl_object is None else ssl_object.getpeercert(True)
        if peer_certificate is None:
            writer.close()
            raise PeerRefused("no peer certificate")
        binding = TlsBinding(identity.certificate_hash, certificate_hash(peer_certificate))
        hello = Hello(
            PROTOCOL_VERSION,
            chain_id,
            genesis_hash,
            tip_height,
            tip_hash or genesis_hash,
            NodeRecord.create(key, 1, (), bytes(32)),
        )
        connection = PeerConnection(
            key=key, hello=hello, role=Role.INITIATOR, binding=binding, now=0.0
        )
        client = cls(reader, writer, connection)
        client.flush()
        while not connection.is_established:
            if not await client.read_some():
                writer.close()
                raise PeerRefused("closed during the handshake")
        return client

    def flush(self) -> None:
        data = self.connection.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def read_some(self) -> bool:
        """Reads once; False when the stream ended."""
        try:
            data = await asyncio.wait_for(self.reader.read(1 << 20), READ_TIMEOUT_S)
        except (OSError, TimeoutError):
            data = b""
        if not data:
            self.connection.connection_lost()
            return False
        self.connection.receive_data(data, self.clock)
        self.flush()
        return True

    def send(self, message: Message) -> None:
        self.connection.send(message)
        self.flush()

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def next_message(self) -> Message | ConnectionClosed:
        """The next message from the node, or how the connection closed."""
        while True:
            event = self.connection.next_event()
            if isinstance(event, MessageReceived):
                return event.message
            if isinstance(event, ConnectionClosed):
                return event
            if event is None and not await self.read_some():
                closed = self.connection.closed_event
                assert closed is not None
                return closed

    def close(self) -> None:
        self.writer.close()
