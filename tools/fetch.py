"""Fetching an image URL without becoming a proxy into the server's network (SSRF).

Only globally routable addresses are accepted, judged by `ipaddress` properties and by the IPv4 address
embedded in IPv6 forms (mapped, 6to4, NAT64, IPv4-compatible; Teredo is refused). The host is resolved once
and the connection goes to the address that was checked (no second lookup for DNS rebinding to exploit);
HTTPS still verifies the certificate against the URL's host name. Redirects are followed by hand, each hop
checked again, at most `MAX_REDIRECTS`. One deadline covers the whole fetch, redirects and body included,
and the body is capped in bytes while it streams, so a server trickling one byte at a time cannot hold a
call past the deadline. Nothing here imports torch.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable

from .spec import ToolError

MAX_REDIRECTS = 5
_NOT_GLOBAL = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier NAT, cloud metadata such as 100.100.100.200)
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",
        "240.0.0.0/4",
        "fec0::/10",  # deprecated site-local
        "2001::/32",  # Teredo
    )
]
_NAT64 = [ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48")]


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is globally routable, including the IPv4 address inside IPv6 forms."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and any(ip in n for n in _NAT64):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is None and int(ip) >> 32 == 0:  # ::a.b.c.d (IPv4-compatible) and ::
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    if any(ip.version == n.version and ip in n for n in _NOT_GLOBAL):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local)


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to a checked address, whatever the host name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = self.pinned_sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address, verifying the certificate against the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self.pinned_sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _resolve(host: str, port: int, address_ok: Callable) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ToolError(f"cannot resolve {host}: {exc}") from None
    addresses = [info[4][0] for info in infos]
    for address in addresses:  # every answer must be public: the first may not be the one used next time
        ip = ipaddress.ip_address(address.split("%")[0])
        if not address_ok(ip):
            raise ToolError(f"{host} resolves to a non-public address ({ip}); refused")
    if not addresses:
        raise ToolError(f"cannot resolve {host}")
    return addresses[0]


def fetch_public(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float = 20.0,
    address_ok: Callable = is_public_address,
    max_redirects: int = MAX_REDIRECTS,
) -> bytes:
    """The body of ``url``, fetched from public addresses only, within ``timeout_s`` and ``max_bytes``.

    Args:
        url: An ``http`` or ``https`` URL.
        max_bytes: The body's size limit.
        timeout_s: One deadline for everything (connects, redirects, the whole body).
        address_ok: Which resolved addresses may be connected to (tests widen it to one loopback address).
        max_redirects: Redirect hops followed, each checked again.

    Raises:
        ToolError: A refused address or scheme, too many redirects, an HTTP error, too large, too slow.
    """
    deadline = time.monotonic() + timeout_s
    for _ in range(max_redirects + 1):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ToolError(f"only http(s) URLs with a host can be fetched, not {url[:100]!r}")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        address = _resolve(parsed.hostname, port, address_ok)
        remaining = _remaining(deadline, url, timeout_s)
        kind = _PinnedHTTPS if parsed.scheme == "https" else _PinnedHTTP
        conn = kind(parsed.hostname, port, address, timeout=remaining)
        try:
            path = urllib.parse.urlunsplit(("", "", parsed.path or "/", parsed.query, ""))
            conn.request("GET", path, headers={"User-Agent": "pixwizard", "Accept": "image/*"})
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise ToolError(f"{url} redirects without a Location")
                url = urllib.parse.urljoin(url, location)
                continue
            if response.status != 200:
                raise ToolError(f"{url} answered HTTP {response.status} {response.reason}")
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ToolError(f"{url} is larger than the {max_bytes / 2**20:.0f} MiB limit")
            return _read_body(conn, response, deadline, max_bytes, url, timeout_s)
        except ssl.SSLError as exc:
            raise ToolError(
                f"{url}: TLS failed ({exc.reason or exc}); the certificate must match the host"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            if time.monotonic() >= deadline:
                raise ToolError(f"fetching {url} took longer than {timeout_s:g} s; refused") from None
            raise ToolError(f"cannot fetch {url}: {exc}") from None
        finally:
            conn.close()
    raise ToolError(f"{url} redirected more than {max_redirects} times; refused")


def _remaining(deadline: float, url: str, timeout_s: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ToolError(f"fetching {url} took longer than {timeout_s:g} s; refused")
    return left


def _read_body(conn, response, deadline: float, max_bytes: int, url: str, timeout_s: float) -> bytes:
    chunks, total = [], 0
    while True:
        # The connection may hand its socket to the response; pinned_sock is the one it connected.
        conn.pinned_sock.settimeout(_remaining(deadline, url, timeout_s))
        chunk = response.read1(65536)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise ToolError(f"{url} is larger than the {max_bytes / 2**20:.0f} MiB limit")
        chunks.append(chunk)
