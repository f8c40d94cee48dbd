"""Running the server: stdio with a bounded message size, streamable HTTP with a body limit and a token.

Both transports refuse a JSON-RPC message above `REQUEST_LIMITS` with a tool error that names the limit,
answered to the request's own id, instead of buffering it (stdio: 1.3 GB of memory for a 200 MB line) or
answering a bare HTTP 413. Off loopback, HTTP requires a bearer token (`--token` or ``PIXWIZARD_TOKEN``),
compared in constant time; the SDK's OAuth support needs an authorisation server, which a single shared
secret does not have, so this is a small ASGI layer in front of the SDK's app.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import sys
from typing import BinaryIO

import anyio

from .server import REQUEST_LIMITS, REQUEST_TOO_LARGE, PixWizardServer, request_too_large_message

logger = logging.getLogger(__name__)
_KEEP = 64 * 1024  # bytes kept from each end of an oversized line, to find its id and method
_ID = re.compile(rb'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.){0,200}")')


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- stdio ------------------------------------------------------------------------------------------


class BoundedLines:
    """Lines of a binary stream for the SDK's stdio transport, each at most ``limit`` bytes.

    An oversized line is read to its end without being kept (only its first and last 64 KiB, to find the
    request id) and replaced by a small ``tools/call`` of `REQUEST_TOO_LARGE`, which the server answers
    with an error naming the limit under the original id. A line without an id (a notification) is dropped.
    """

    def __init__(self, stream: BinaryIO, limit: int):
        self.stream, self.limit = stream, limit

    def __aiter__(self):
        return self

    async def __anext__(self) -> str:
        while True:
            line = await anyio.to_thread.run_sync(self._next_line, abandon_on_cancel=True)
            if line is None:
                raise StopAsyncIteration
            if line:
                return line

    def _next_line(self) -> str | None:
        line = self.stream.readline(self.limit + 1)
        if not line:
            return None
        if len(line) <= self.limit or line.endswith(b"\n") and len(line) == self.limit + 1:
            return line.decode("utf-8", errors="replace")
        head, tail, size = line[:_KEEP], line[-_KEEP:], len(line)
        while not line.endswith(b"\n"):
            line = self.stream.readline(1 << 20)
            if not line:
                break
            size += len(line)
            tail = (tail + line)[-_KEEP:]
        logger.warning("refused a %d-byte message (the stdio limit is %d bytes)", size, self.limit)
        return too_large_call(head, tail, size, "stdio")


def too_large_call(head: bytes, tail: bytes, size: int, transport: str) -> str:
    """The replacement request for an oversized message ('' when it has no id to answer)."""
    match = _ID.search(head) or _ID.search(tail)
    if match is None:
        return ""
    request_id = json.loads(match.group(1))
    call = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {
            "name": REQUEST_TOO_LARGE,
            "arguments": {REQUEST_TOO_LARGE: {"bytes": size, "transport": transport}},
        },
    }
    return json.dumps(call) + "\n"


async def serve_stdio(server: PixWizardServer) -> None:
    """Serve over stdin/stdout with the stdio message limit."""
    from mcp.server.stdio import stdio_server

    lines = BoundedLines(sys.stdin.buffer, REQUEST_LIMITS["stdio"])
    async with stdio_server(stdin=lines) as (read_stream, write_stream):
        # The SDK's run_stdio_async takes no stdin; this is the same call with ours.
        low = server._lowlevel_server
        await low.run(read_stream, write_stream, low.create_initialization_options())


# -- streamable HTTP --------------------------------------------------------------------------------


class Guard:
    """ASGI layer: bearer token (when set) and the body limit, with answers a client can read.

    Args:
        app: The SDK's Starlette app.
        token: The bearer token every request must carry (None: no authentication, loopback only).
        limit: The largest request body in bytes.
    """

    def __init__(self, app, token: str | None, limit: int):
        self.app, self.token, self.limit = app, token, limit

    async def __call__(self, scope, receive, send) -> None:
        """Check one HTTP request, then hand it (its body replayed) to the SDK's app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token is not None and not _authorised(headers.get("authorization", ""), self.token):
            await _reply(
                send,
                401,
                {"error": "a bearer token is required (Authorization: Bearer ...)"},
                [(b"www-authenticate", b'Bearer realm="pixwizard"')],
            )
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await _reply_too_large(send, int(declared))
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await _reply_too_large(send, None)
                return
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _authorised(header: str, token: str) -> bool:
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


async def _reply(send, status: int, payload: dict, extra_headers=()) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra_headers]})
    await send({"type": "http.response.body", "body": body})


async def _reply_too_large(send, size: int | None) -> None:
    message = request_too_large_message(size, "streamable-http")
    await _reply(send, 413, {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}})


def http_app(server: PixWizardServer, *, host: str, token: str | None):
    """The streamable-HTTP ASGI app behind the guard."""
    limit = REQUEST_LIMITS["streamable-http"]
    app = server.streamable_http_app(host=host, max_request_body_size=limit + 1)
    return Guard(app, token, limit)


async def serve_http(server: PixWizardServer, *, host: str, port: int, token: str | None) -> None:
    """Serve streamable HTTP on ``host:port``; a non-loopback host needs a token.

    Raises:
        ValueError: A non-loopback host without a token.
    """
    import uvicorn

    if token is None and not is_loopback(host):
        raise ValueError(
            f"--host {host} accepts connections from other machines: set a bearer token with --token or "
            "PIXWIZARD_TOKEN (clients send Authorization: Bearer <token>), or bind to 127.0.0.1"
        )
    config = uvicorn.Config(http_app(server, host=host, token=token), host=host, port=port, log_level="info")
    await uvicorn.Server(config).serve()
