"""A loopback TCP proxy for fault tests: clients connect to it instead of the broker, and
``cut()`` makes the broker vanish for them (every connection closed, new ones refused) while the
broker itself keeps running; ``restore()`` brings it back on the same port.

Kafka clients connect to the address the broker advertises in its metadata, so the broker must
advertise the proxy's address (``local_kafka(..., advertised=[proxy.port])``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from streams.broker.local import local_kafka
from streams.runtime.processes import free_port
from streams.settings import KaptionSettings

CHUNK = 256 * 1024


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port``, in its own thread."""

    def __init__(self, target_host: str, target_port: int, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port
        self.cuts = 0  # how many times cut() closed the door
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._restore_timer: asyncio.TimerHandle | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def is_cut(self) -> bool:
        return self._server is None

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._call(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def cut(self, for_s: float | None = None) -> None:
        """Closes every connection and refuses new ones (connection refused, as from a broker
        that is down), until ``restore()`` or, given ``for_s``, that many seconds from now."""
        self._call(self._cut(for_s))

    def restore(self) -> None:
        """Accepts connections again, on the same port."""
        self._call(self._restore())

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _cut(self, for_s: float | None) -> None:
        if self._server is not None:
            self.cuts += 1
        await self._close_all()
        if for_s is not None:
            self._restore_timer = self._loop.call_later(
                for_s, lambda: asyncio.ensure_future(self._restore())
            )

    async def _restore(self) -> None:
        if self._restore_timer is not None:
            self._restore_timer.cancel()
            self._restore_timer = None
        if self._server is None:
            await self._listen()

    async def _shutdown(self) -> None:
        await self._close_all()  # every pipe ends, and with it its connection's task
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=2)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()  # the listening socket: new connections are refused
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, as when the broker's host goes away
        self._writers.clear()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            broker_r, broker_w = await asyncio.open_connection(*self.target)
        except (OSError, asyncio.CancelledError):  # broker down, or the proxy stopping
            client_w.transport.abort()
            return
        if self._server is None:  # cut while connecting
            client_w.transport.abort()
            broker_w.transport.abort()
            return
        self._writers |= {client_w, broker_w}
        await asyncio.gather(
            self._pipe(client_r, broker_w), self._pipe(broker_r, client_w), return_exceptions=True
        )
        for writer in (client_w, broker_w):
            self._writers.discard(writer)
            writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def proxied_broker(state_dir: Path) -> Iterator[TcpProxy]:
    """A dedicated Kafka node that advertises the proxy's address, so clients reach it only
    through the proxy (``proxy.address`` is their bootstrap address)."""
    broker_port = free_port()
    settings = KaptionSettings()
    with (
        TcpProxy("127.0.0.1", broker_port) as proxy,
        local_kafka(
            state_dir, settings.kafka_home, first_port=broker_port, advertised=[proxy.port]
        ),
    ):
        yield proxy
