"""The proxy that loses a produce response (labkit.ack_loss), against a fake broker.

The fake broker is a TCP server on a free loopback port that answers every request
frame with a response frame carrying the same correlation id, as Kafka does. No Kafka:
the experiment itself runs against real brokers in tests/integration/test_lost_produce_response.py.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from labkit.ack_loss import ResponseDroppingProxy, duplicates_after_lost_ack, proxy_routes
from labkit.errors import LabError

PRODUCE, METADATA = 0, 3
SAFETY_S = 10  # a socket read that never returns fails the test instead of hanging it


def request(api_key: int, correlation_id: int, body: bytes = b"records") -> bytes:
    """A request frame: int32 length | int16 api_key | int16 api_version | int32 corr | body."""
    payload = struct.pack(">hhi", api_key, 9, correlation_id) + body
    return struct.pack(">i", len(payload)) + payload


def read_exact(sock: socket.socket, size: int) -> bytes | None:
    """`size` bytes from `sock`, or None if the connection ends first."""
    data = b""
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(sock: socket.socket) -> bytes | None:
    """One whole frame (length prefix included), or None if the connection ends first."""
    head = read_exact(sock, 4)
    if head is None:
        return None
    body = read_exact(sock, struct.unpack(">i", head)[0])
    return None if body is None else head + body


class FakeBroker:
    """Answers each request with `int32 length | int32 corr | b"answer to <api_key>"`.

    `received` lists (api_key, correlation_id) of every request, in order; `ended` is
    set when a connection from the proxy ends. With `trickle`, each response goes out
    one byte per send, so the proxy must put it back together.
    """

    def __init__(self, *, trickle: bool = False) -> None:
        self.trickle = trickle
        self.received: list[tuple[int, int]] = []
        self.ended = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()[:2]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while (frame := read_frame(conn)) is not None:
                api_key, _version, correlation_id = struct.unpack_from(">hhi", frame, 4)
                self.received.append((api_key, correlation_id))
                body = struct.pack(">i", correlation_id) + b"answer to %d" % api_key
                answer = struct.pack(">i", len(body)) + body
                if self.trickle:
                    for byte in answer:
                        conn.sendall(bytes([byte]))
                else:
                    conn.sendall(answer)
        self.ended.set()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def broker() -> Iterator[FakeBroker]:
    fake = FakeBroker()
    yield fake
    fake.close()


@pytest.fixture
def proxy(broker: FakeBroker) -> Iterator[ResponseDroppingProxy]:
    with ResponseDroppingProxy(("127.0.0.1", 0), broker.address) as running:
        yield running


def connect(proxy: ResponseDroppingProxy) -> socket.socket:
    return socket.create_connection(proxy.address, timeout=SAFETY_S)


def answer(correlation_id: int, api_key: int) -> bytes:
    body = struct.pack(">i", correlation_id) + b"answer to %d" % api_key
    return struct.pack(">i", len(body)) + body


def test_unarmed_every_request_and_response_passes_untouched(proxy, broker):
    with connect(proxy) as client:
        for correlation_id, api_key in enumerate([METADATA, PRODUCE, 18, PRODUCE]):
            client.sendall(request(api_key, correlation_id))
            assert read_frame(client) == answer(correlation_id, api_key)
    assert broker.received == [(METADATA, 0), (PRODUCE, 1), (18, 2), (PRODUCE, 3)]
    assert proxy.dropped == 0


def test_an_armed_proxy_cuts_the_connection_instead_of_answering_a_produce(proxy, broker):
    with connect(proxy) as client:
        client.sendall(request(METADATA, 1))
        assert read_frame(client) == answer(1, METADATA)
        proxy.arm()
        client.sendall(request(METADATA, 2))  # armed, but not a produce: it passes
        assert read_frame(client) == answer(2, METADATA)
        client.sendall(request(PRODUCE, 3))
        assert read_frame(client) is None  # the connection ended, with no answer
    assert broker.received[-1] == (PRODUCE, 3)  # the broker did get the request
    assert broker.ended.wait(SAFETY_S)  # and its connection was closed too
    assert proxy.dropped == 1


def test_the_proxy_loses_one_response_per_arming(proxy):
    proxy.lose_next_produce_response()
    with connect(proxy) as client:
        client.sendall(request(PRODUCE, 1))
        assert read_frame(client) is None
    with connect(proxy) as client:  # the producer reconnects, and its retry is answered
        client.sendall(request(PRODUCE, 1))
        assert read_frame(client) == answer(1, PRODUCE)
    assert proxy.dropped == 1


def test_frames_split_and_joined_by_tcp_are_reassembled():
    broker = FakeBroker(trickle=True)  # every response arrives one byte at a time
    try:
        with ResponseDroppingProxy(("127.0.0.1", 0), broker.address) as proxy, \
                connect(proxy) as client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            first = request(PRODUCE, 7, b"x" * 300)
            for byte in first:  # one request, a byte per send
                client.sendall(bytes([byte]))
            assert read_frame(client) == answer(7, PRODUCE)
            client.sendall(request(METADATA, 8) + request(PRODUCE, 9))  # two in one send
            assert read_frame(client) == answer(8, METADATA)
            assert read_frame(client) == answer(9, PRODUCE)
            proxy.arm()  # a produce response that trickles in is still recognised
            client.sendall(request(PRODUCE, 10))
            assert read_frame(client) is None
        assert broker.received == [(PRODUCE, 7), (METADATA, 8), (PRODUCE, 9), (PRODUCE, 10)]
    finally:
        broker.close()


@pytest.mark.parametrize(("listen", "upstream"), [
    (("0.0.0.0", 0), ("127.0.0.1", 9094)),
    (("192.168.1.10", 0), ("127.0.0.1", 9094)),
    (("127.0.0.1", 0), ("10.0.0.5", 9094)),
    (("127.0.0.1", 0), ("kafka.example.com", 9094)),
])
def test_the_proxy_refuses_addresses_off_loopback(listen, upstream):
    with pytest.raises(LabError, match="not on loopback"):
        ResponseDroppingProxy(listen, upstream)


def test_routes_are_derived_from_the_bootstrap_list():
    assert proxy_routes("127.0.0.1:9192, 127.0.0.1:9292,127.0.0.1:9392") == {
        "127.0.0.1:9195": "127.0.0.1:9194", "127.0.0.1:9295": "127.0.0.1:9294",
        "127.0.0.1:9395": "127.0.0.1:9394"}
    with pytest.raises(LabError, match="not a host:port"):
        proxy_routes("127.0.0.1")


@pytest.mark.parametrize(("records", "routes", "said"), [
    (1, {"127.0.0.1:1": "127.0.0.1:2"}, "two batches"),
    (100, {}, "No proxy routes"),
])
def test_the_experiment_refuses_bad_input_before_it_connects(records, routes, said):
    with pytest.raises(LabError, match=said):
        duplicates_after_lost_ack("t", idempotent=False, routes=routes, records=records)


def test_stop_ends_the_connections_still_open_and_the_listener(broker):
    proxy = ResponseDroppingProxy(("127.0.0.1", 0), broker.address).start()
    address = proxy.address
    with connect(proxy) as client:
        client.sendall(request(METADATA, 1))
        assert read_frame(client) == answer(1, METADATA)
        proxy.stop()
        assert read_frame(client) is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=SAFETY_S)
