"""A real network round trip on loopback, driven through Deferreds: asyncio
streams and protocols on 127.0.0.1 (a port the OS picks), with cancellation
flowing both ways between asyncio and Deferreds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from typing import Any

from deferred import CancelledError, Deferred, ensureDeferred, inlineCallbacks


@asynccontextmanager
async def lineServer(reply: bool = True) -> AsyncIterator[tuple[int, list[str]]]:
    """A server answering each line with its upper-cased echo (or, with
    ``reply=False``, never answering); yields its port and a log of events."""
    events: list[str] = []

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while line := await reader.readline():
                events.append(f"got {line.decode().strip()}")
                if reply:
                    writer.write(line.upper())
                    await writer.drain()
            events.append("client closed")
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, events
    finally:
        server.close()
        await server.wait_closed()


def test_stream_round_trip_through_ensureDeferred() -> None:
    async def client(port: int) -> list[str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answers = []
        try:
            for word in ("hello", "deferred"):
                writer.write(f"{word}\n".encode())
                # A stream read as a Deferred, awaited in our driver.
                read = Deferred.fromFuture(asyncio.ensure_future(reader.readline()))
                answers.append((await read).decode().strip())
        finally:
            writer.close()
            await writer.wait_closed()
        return answers

    async def main() -> list[str]:
        async with lineServer() as (port, _):
            # The Deferred is awaited directly in the asyncio task.
            answers: list[str] = await ensureDeferred(client(port))
            return answers

    assert asyncio.run(main()) == ["HELLO", "DEFERRED"]


class LineProtocol(asyncio.Protocol):
    """A client protocol that fires a Deferred with each line received."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiting: list[Deferred[str]] = []
        self.lost: Deferred[None] = Deferred()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer and self.waiting:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self.waiting.pop(0).callback(line.decode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.callback(None)

    def ask(self, text: str) -> Deferred[str]:
        """Send a line; a Deferred of the reply (cancelling it hangs up)."""
        assert self.transport is not None
        self.transport.write(f"{text}\n".encode())
        d: Deferred[str] = Deferred(lambda d: self.hangUp())
        self.waiting.append(d)
        return d

    def hangUp(self) -> None:
        assert self.transport is not None
        self.transport.close()


async def serverSaw(events: list[str], event: str) -> None:
    """Wait until the server has logged *event* (a condition, not a fixed
    delay: a loaded machine only makes this take longer)."""
    for _ in range(10_000):  # about 10 s at most
        if event in events:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"the server never saw {event!r}: {events}")


def test_protocol_round_trip_through_inlineCallbacks() -> None:
    @inlineCallbacks
    def conversation(protocol: LineProtocol) -> Generator[Any, Any, list[str]]:
        first = yield protocol.ask("ping")
        second = yield protocol.ask(first + " again")
        protocol.hangUp()
        yield protocol.lost
        return [first, second]

    async def main() -> tuple[list[str], list[str]]:
        async with lineServer() as (port, events):
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_connection(LineProtocol, "127.0.0.1", port)
            replies: list[str] = await conversation(protocol)
            await serverSaw(events, "client closed")
            return replies, events

    replies, events = asyncio.run(main())
    assert replies == ["PING", "PING AGAIN"]
    assert events == ["got ping", "got PING again", "client closed"]


def test_cancelling_the_deferred_cancels_a_pending_stream_read() -> None:
    async def client(port: int, seen: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"anyone?\n")
            await reader.readline()  # never answered
        except CancelledError:
            seen.append("deferred.CancelledError in the coroutine")
            raise
        finally:
            writer.close()

    async def main() -> tuple[list[str], list[str]]:
        seen: list[str] = []
        async with lineServer(reply=False) as (port, events):
            d = ensureDeferred(client(port, seen))
            while not events:
                await asyncio.sleep(0.001)  # the question has arrived
            d.cancel()
            failures: list[Any] = []
            d.addErrback(failures.append)
            assert failures[0].check(CancelledError)
            await serverSaw(events, "client closed")
            return seen, events

    seen, events = asyncio.run(main())
    assert seen == ["deferred.CancelledError in the coroutine"]
    assert events == ["got anyone?", "client closed"]


def test_cancelling_the_task_cancels_the_deferred_of_a_protocol() -> None:
    async def main() -> list[str]:
        async with lineServer(reply=False) as (port, events):
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_connection(LineProtocol, "127.0.0.1", port)

            async def waitForReply() -> str:
                return await protocol.ask("hello?")

            task = asyncio.ensure_future(waitForReply())
            while not events:
                await asyncio.sleep(0.001)
            task.cancel()  # cancels the Deferred, whose canceller hangs up
            try:
                await task
            except asyncio.CancelledError:
                events.append("task cancelled")
            await protocol.lost
            await serverSaw(events, "client closed")
            return events

    events = asyncio.run(main())
    assert "task cancelled" in events
    assert events[0] == "got hello?"
    assert "client closed" in events


def test_server_side_deferred_fired_by_the_client_request() -> None:
    # The server handler waits on a Deferred fired by a protocol-level event
    # (the request arriving), bridged to asyncio with asFuture.
    async def main() -> str:
        loop = asyncio.get_running_loop()
        request: Deferred[bytes] = Deferred()

        async def handle(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            request.callback(await reader.readline())
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"order 66\n")
            line = await request.asFuture(loop)
            writer.close()
            await writer.wait_closed()
        finally:
            server.close()
            await server.wait_closed()
        return line.decode().strip()

    assert asyncio.run(main()) == "order 66"
