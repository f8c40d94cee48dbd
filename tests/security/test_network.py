"""Fetching URLs with --allow-network: addresses, redirects, DNS rebinding, deadlines, size, TLS."""

from __future__ import annotations

import http.server
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest
from pixwizard.tools import ToolError
from pixwizard.tools import fetch as fetch_module
from pixwizard.tools.fetch import fetch_public, is_public_address


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "100.100.100.200",
        "100.64.0.1",
        "192.0.0.8",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fec0::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "2002:7f00:1::1",
        "2002:a00:1::1",
        "64:ff9b::7f00:1",
        "::127.0.0.1",
        "2001::1",
        "ff02::1",
        "224.0.0.1",
        "240.0.0.1",
    ],
)
def test_non_global_addresses_are_refused(address):
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:808:808::1"])
def test_global_addresses_are_accepted(address):
    assert is_public_address(ipaddress.ip_address(address))


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):
        self.routes[self.path](self)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """An HTTP server on 127.0.0.1 with per-test routes; yields (base URL, routes)."""

    class Handler(_Handler):
        routes = {}

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", Handler.routes
    httpd.shutdown()


def _only(address: str):
    """An address policy that treats exactly one loopback address as public (the test server's)."""
    return lambda ip: str(ip) == address


def _png(handler):
    body = b"\x89PNG fake body"
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_a_fetch_goes_through_on_an_allowed_address(server):
    base, routes = server
    routes["/a.png"] = _png
    assert fetch_public(f"{base}/a.png", max_bytes=1000, address_ok=_only("127.0.0.1")).startswith(b"\x89PNG")


def test_every_redirect_hop_is_checked(server):
    base, routes = server
    port = base.rsplit(":", 1)[1]

    def to_other_loopback(handler):
        handler.send_response(302)
        handler.send_header("Location", f"http://127.0.0.2:{port}/a.png")
        handler.end_headers()

    routes["/a.png"] = _png
    routes["/hop"] = to_other_loopback
    with pytest.raises(ToolError, match=r"non-public address \(127.0.0.2\)"):
        fetch_public(f"{base}/hop", max_bytes=1000, address_ok=_only("127.0.0.1"))


def test_redirects_are_bounded(server):
    base, routes = server

    def again(handler):
        handler.send_response(302)
        handler.send_header("Location", "/loop")
        handler.end_headers()

    routes["/loop"] = again
    with pytest.raises(ToolError, match="redirected more than 5 times"):
        fetch_public(f"{base}/loop", max_bytes=1000, address_ok=_only("127.0.0.1"))


def test_dns_rebinding_cannot_change_the_address_after_the_check(server, monkeypatch):
    """The name answers a public address once, then loopback: the connection uses the checked one."""
    base, routes = server
    routes["/a.png"] = _png
    port = int(base.rsplit(":", 1)[1])
    answers = ["127.0.0.1", "127.0.0.2"]
    calls = []

    real_lookup = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host[0].isdigit():  # a numeric address resolves to itself, as in real life
            return real_lookup(host, *args, **kwargs)
        calls.append(host)
        address = answers[min(len(calls) - 1, 1)]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(fetch_module.socket, "getaddrinfo", rebinding)
    connected = []
    real = socket.create_connection
    monkeypatch.setattr(
        fetch_module.socket,
        "create_connection",
        lambda addr, *a, **k: connected.append(addr) or real(addr, *a, **k),
    )
    data = fetch_public(f"http://images.example:{port}/a.png", max_bytes=1000, address_ok=_only("127.0.0.1"))
    assert data.startswith(b"\x89PNG") and calls == ["images.example"] and connected == [("127.0.0.1", port)]


def test_a_trickling_server_is_cut_at_the_deadline(server):
    base, routes = server

    def trickle(handler):
        handler.send_response(200)
        handler.end_headers()
        try:
            for _ in range(40):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.25)
        except OSError:
            pass

    routes["/slow"] = trickle
    start = time.monotonic()
    with pytest.raises(ToolError, match="longer than 1.5 s"):
        fetch_public(f"{base}/slow", max_bytes=1000, timeout_s=1.5, address_ok=_only("127.0.0.1"))
    assert time.monotonic() - start < 3


def test_the_body_is_capped_while_it_streams(server):
    base, routes = server

    def endless(handler):  # no Content-Length: only counting while reading can stop it
        handler.send_response(200)
        handler.end_headers()
        try:
            for _ in range(100):
                handler.wfile.write(b"x" * 65536)
        except OSError:
            pass

    routes["/big"] = endless
    with pytest.raises(ToolError, match="larger than"):
        fetch_public(f"{base}/big", max_bytes=2**20, address_ok=_only("127.0.0.1"))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_verifies_the_certificate_against_the_host(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ToolError, match="TLS failed"):
            fetch_public(
                f"https://127.0.0.1:{httpd.server_address[1]}/a.png",
                max_bytes=1000,
                address_ok=_only("127.0.0.1"),
            )
    finally:
        httpd.shutdown()


def test_the_store_refuses_private_hosts(workspace):
    from pixwizard.tools import make_context

    ctx = make_context(store_dir=workspace / "store", allow_network=True, device="cpu")
    for url in ("http://127.0.0.1/a.png", "http://[::1]/a.png", "http://100.100.100.200/latest", "ftp://x/a"):
        with pytest.raises(ToolError, match="non-public|not supported"):
            ctx.store.load(url)
