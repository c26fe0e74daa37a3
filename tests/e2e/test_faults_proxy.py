"""The fault proxy itself, against a real echo server: each mode does what the fault tests rely on."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from support.faultproxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except ConnectionError:  # the proxy reset the connection: what the tests do on purpose
            pass


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    echo = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    echo.daemon_threads = True
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    try:
        with FaultProxy(("127.0.0.1", echo.server_address[1])) as running:
            yield running
    finally:
        echo.shutdown()
        echo.server_close()


def connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=2)


def echo_once(sock: socket.socket, payload: bytes = b"ping") -> bytes:
    sock.sendall(payload)
    return sock.recv(65536)


def test_pass_forwards_both_ways_and_refuse_stops_listening_until_pass_again(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        assert echo_once(sock) == b"ping"
    proxy.mode = "refuse"
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    proxy.mode = "pass"
    with connect(proxy) as sock:
        assert echo_once(sock) == b"ping"


def test_reset_and_cut_end_connections_with_a_reset(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        assert echo_once(sock) == b"ping"
        assert proxy.cut() == 2  # the client's end and the upstream end
        with pytest.raises(OSError):
            echo_once(sock) or echo_once(sock)
    proxy.mode = "reset"
    with pytest.raises(OSError), connect(proxy) as sock:  # the reset may already fail the connect
        echo_once(sock) or echo_once(sock)
    assert proxy.counts["connections reset"] == 1


def test_blackhole_accepts_and_never_answers_even_on_open_connections(proxy: FaultProxy) -> None:
    with connect(proxy) as old:
        assert echo_once(old) == b"ping"
        proxy.mode = "blackhole"
        with connect(proxy) as new:
            for sock in (old, new):
                sock.settimeout(0.3)
                with pytest.raises(TimeoutError):
                    echo_once(sock)
        proxy.mode = "pass"
        old.settimeout(2)
        assert echo_once(old, b"again") == b"again"


def test_delay_holds_each_chunk_back(proxy: FaultProxy) -> None:
    proxy.delay_s = 0.2
    with connect(proxy) as sock:
        sock.settimeout(0.1)
        sock.sendall(b"slow")
        with pytest.raises(TimeoutError):
            sock.recv(16)
        sock.settimeout(2)
        assert sock.recv(16) == b"slow"


def test_drop_replies_forwards_requests_and_loses_the_answers(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        proxy.mode = "drop_replies"
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            echo_once(sock)
        assert proxy.counts["chunks dropped"] == 1  # the echo server did get the request and answered it
