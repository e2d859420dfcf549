"""Live updates: server-sent events at `/events` (docs/explorer.md §Live updates).

Rules:
- Each new main-chain block is one event, `event: block`, its data the block's summary as JSON
  (`BlockSummary.as_event`, with the formatted texts the page shows), its id the height.
- A subscriber is a bounded queue. One that falls `QUEUE_EVENTS` behind is dropped (its
  stream ends; the browser's EventSource reconnects), so a stalled client never holds memory
  or slows the node. At most `MAX_SUBSCRIBERS` streams at once; more are answered 503.
- An idle stream gets a comment every `keepalive_s`, which also finds clients that went away.
- `close()` (the plugin stopping, the app shutting down) ends every stream at once; a stream
  opened after it ends at once. No task is started: each stream runs in its own request's
  handler, which returns when its stream ends.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from pacata.explorer.rendering import SECURITY_HEADERS

QUEUE_EVENTS = 64
MAX_SUBSCRIBERS = 256
KEEPALIVE_S = 15.0
RETRY_MS = 3_000
_END = b""


class LiveEvents:
    def __init__(self, keepalive_s: float = KEEPALIVE_S) -> None:
        self.keepalive_s = keepalive_s
        self._subscribers: set[asyncio.Queue[bytes]] = set()
        self.closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event: str, data: dict[str, Any], event_id: int | None = None) -> None:
        """Sends an event to every stream (on the event loop's thread)."""
        if not self._subscribers:
            return
        lines = [f"event: {event}"]
        if event_id is not None:
            lines.append(f"id: {event_id}")
        lines.append("data: " + json.dumps(data, separators=(",", ":")))
        message = ("\n".join(lines) + "\n\n").encode("utf-8")
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self._end(queue)  # too far behind: it reconnects and reloads the page's state

    def _end(self, queue: asyncio.Queue[bytes]) -> None:
        self._subscribers.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(_END)

    def close(self) -> None:
        """Ends every stream; new ones end at once."""
        self.closed = True
        for queue in list(self._subscribers):
            self._end(queue)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """The `/events` handler."""
        if self.closed or len(self._subscribers) >= MAX_SUBSCRIBERS:
            return web.Response(
                status=503, text="no live stream now; try again later\n", content_type="text/plain"
            )
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_EVENTS)
        self._subscribers.add(queue)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
                **SECURITY_HEADERS,  # sent by `prepare`, before the middleware sees the answer
            }
        )
        try:
            await response.prepare(request)
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), self.keepalive_s)
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                if message == _END:
                    break
                await response.write(message)
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away
        finally:
            self._subscribers.discard(queue)
        return response
