"""MLLP (HL7 v2 Minimal Lower Layer Protocol) server on asyncio: one ACK per message.

A block is ``<VT 0x0B> message <FS 0x1C><CR 0x0D>``. For each block the server calls the
handler (in a worker thread: it writes to the database) and writes back the acknowledgement the
handler returns, only after the handler has returned, so an ACK always follows the commit. A
client that sends the next block before reading the ACK is served in order.

Limits, so one client cannot hold the service: a block larger than ``max_bytes`` is answered
with a generic ``AR`` and the connection is closed; a connection idle for ``idle_timeout``
seconds, or a block not finished within ``message_timeout`` seconds after its start character,
is closed; at most ``max_connections`` clients are served at once (more are closed at once).
Anything before a start character is a framing error: ``AR`` and close (the stream cannot be
trusted to resynchronise). The default address is the loopback interface.

The handler receives the raw bytes between the framing characters and returns the ACK bytes;
it must not raise (``inoplan.inbound.handle_hl7`` answers ``AR`` itself when storage fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MllpLimits", "MllpServer", "frame", "generic_nak"]

log = logging.getLogger(__name__)

START = b"\x0b"
END = b"\x1c\x0d"


def frame(message: bytes) -> bytes:
    """``message`` wrapped in MLLP framing characters."""
    return START + message + END


def generic_nak(reason: str) -> bytes:
    """An ACK ``AR`` for a block that could not be read as a message at all."""
    text = reason.replace("|", " ").replace("^", " ").replace("\r", " ")[:80]
    return ("MSH|^~\\&|INOPLAN||||||ACK|NAK|P|2.5.1\r" + f"MSA|AR||{text}\r").encode(
        "ascii", "replace"
    )


@dataclass(frozen=True, slots=True)
class MllpLimits:
    max_bytes: int = 1_048_576
    idle_timeout: float = 600.0
    message_timeout: float = 30.0
    max_connections: int = 16


class MllpServer:
    """``server = MllpServer(handler); await server.start(); ...; await server.close()``."""

    def __init__(
        self,
        handler: Callable[[bytes], bytes],
        *,
        host: str = "127.0.0.1",
        port: int = 2575,
        limits: MllpLimits = MllpLimits(),
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.limits = limits
        self._server: asyncio.Server | None = None
        self._slots = asyncio.Semaphore(limits.max_connections)
        self._active: set[asyncio.Task[None]] = set()

    @property
    def bound_port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._client, self.host, self.port, limit=self.limits.max_bytes + len(END)
        )
        log.info("MLLP listener on %s:%s", self.host, self.bound_port)
        return self.bound_port

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop accepting; let a message being handled finish and be acknowledged."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._active:
            await asyncio.gather(*self._active, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._slots.locked():
            log.warning("MLLP connection refused: %s clients already", self.limits.max_connections)
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
        async with self._slots:
            try:
                await self._serve(reader, writer)
            finally:
                if task is not None:
                    self._active.discard(task)
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        limits = self.limits
        while True:
            try:
                first = await asyncio.wait_for(reader.read(1), limits.idle_timeout)
            except TimeoutError:
                return  # idle: the sender reconnects when it has something to send
            if not first:
                return  # the client closed the connection
            if first in (b"\r", b"\n"):
                continue  # stray line ends between blocks are harmless
            if first != START:
                await self._answer(writer, generic_nak("framing error: no start block"))
                return
            try:
                block = await asyncio.wait_for(reader.readuntil(END), limits.message_timeout)
            except TimeoutError:
                log.warning("MLLP message not completed within %ss", limits.message_timeout)
                return
            except asyncio.LimitOverrunError:
                await self._answer(
                    writer, generic_nak(f"message larger than {limits.max_bytes} bytes")
                )
                return
            except asyncio.IncompleteReadError:
                return  # closed mid-message: nothing was handled, the sender will resend
            message = block[: -len(END)]
            if START in message:
                await self._answer(writer, generic_nak("framing error: start block inside"))
                return
            try:
                ack = await asyncio.to_thread(self.handler, message)
            except Exception as exc:  # no ACK: the sender keeps the message and resends it
                log.error("MLLP handler failed (%s); connection closed", type(exc).__name__)
                return
            if not await self._answer(writer, ack):
                return

    async def _answer(self, writer: asyncio.StreamWriter, ack: bytes) -> bool:
        try:
            writer.write(frame(ack))
            await asyncio.wait_for(writer.drain(), self.limits.message_timeout)
        except (ConnectionError, TimeoutError):
            return False
        return True
