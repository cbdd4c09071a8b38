"""A produce response lost on the way back: how a producer writes duplicates (notebook 09).

A producer that sent a batch and never heard back cannot know whether the broker
wrote it. It sends it again. If the broker had written it, the log now holds the
batch twice, unless the producer is idempotent: then each batch carries its producer
id and sequence number, and the broker acknowledges a retry it already holds
without writing it again.

To stage exactly that, `ResponseDroppingProxy` sits between a client and one broker
and, when armed, lets a produce request through but loses its response: it cuts
the connection the moment the broker's answer arrives, after the write, as a
network failure would. `duplicates_after_lost_ack` runs the experiment on a topic and
counts what reached the log.

Each broker of the lab's cluster has a second listener (PROXIED) bound at port
9N94 and advertised at 9N95 (N = broker id). A client that bootstraps at the 9N95
addresses is told every broker is at its 9N95 address, so all its traffic goes
through the proxies listening there (`proxy_routes` derives them).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, suppress
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

from . import clients
from .errors import LabError

__all__ = ["LostAck", "ResponseDroppingProxy", "duplicates_after_lost_ack", "proxy_routes"]

PRODUCE = 0  # the api_key of Kafka's Produce request
# Any Kafka frame this lab sends is far smaller; a larger length means bytes that are not
# Kafka's protocol, and the connection is cut rather than buffered without end.
MAX_FRAME_BYTES = 100 * 1024 * 1024
LOOPBACK_FIX = "use 127.0.0.1 (the lab binds and dials loopback only)."


def _loopback(address: tuple[str, int], role: str) -> tuple[str, int]:
    """`address`, if its host is a loopback address; a LabError if not."""
    host, port = address
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: its address is not known without asking DNS
        loopback = False
    if not loopback:
        raise LabError(f"The proxy's {role} address {host}:{port} is not on loopback.",
                       LOOPBACK_FIX)
    return host, port


def _frames(sock: socket.socket) -> Iterator[bytes]:
    """Each whole Kafka frame (`int32 length | length bytes`, the length included) that
    arrives on `sock`, however TCP splits or joins them; ends when the connection does."""
    buffer = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:  # cut by the other direction, or by stop()
            return
        if not chunk:
            return
        buffer += chunk
        while len(buffer) >= 4:
            size = int.from_bytes(buffer[:4], "big", signed=True)
            if not 0 <= size <= MAX_FRAME_BYTES:
                return
            if len(buffer) < 4 + size:
                break
            yield bytes(buffer[:4 + size])
            del buffer[:4 + size]


def _cut(*socks: socket.socket) -> None:
    """Close each socket at once, waking a thread blocked reading it (shutdown does)."""
    for sock in socks:
        with suppress(OSError):  # already closed by the other direction
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


class ResponseDroppingProxy:
    """A TCP proxy in front of one Kafka broker that can lose one produce response.

    Bytes pass both ways untouched, a whole frame at a time. Requests are read just far
    enough to note which correlation ids are produce requests (`int32 length | int16
    api_key | int16 api_version | int32 correlation_id | ...`); responses carry only the
    correlation id (`int32 length | int32 correlation_id | ...`). After `arm()`, the
    next produce response is not forwarded: both connections are closed instead, so
    the broker has written the batch and the producer never learns it did.

    Loopback only: it listens on, and dials, 127.0.0.1 (or another loopback address).
    Use it as a context manager, or call `start()` and `stop()`.
    """

    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int]) -> None:
        self.listen = _loopback(listen, "listen")
        self.upstream = _loopback(upstream, "upstream")
        self._lock = threading.Lock()
        self._armed = False
        self._dropped = 0
        self._stopping = False
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the port the system chose, if `listen` asked for port 0)."""
        if self._listener is None:
            raise LabError("The proxy is not started.", "call start(), or use it in a `with`.")
        return self._listener.getsockname()[:2]

    @property
    def dropped(self) -> int:
        """How many produce responses it has lost so far."""
        with self._lock:
            return self._dropped

    def arm(self) -> None:
        """Lose the next produce response (one only: the proxy disarms as it drops it)."""
        with self._lock:
            self._armed = True

    lose_next_produce_response = arm

    def _take_arm(self) -> bool:
        """Is this produce response the one to lose? Disarms and counts it if so."""
        with self._lock:
            if not self._armed:
                return False
            self._armed, self._dropped = False, self._dropped + 1
            return True

    def start(self) -> ResponseDroppingProxy:
        """Listen, and forward every connection to the upstream broker from a thread of its own."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(self.listen)
        except OSError as exc:
            listener.close()
            raise LabError(f"The proxy cannot listen on {self.listen[0]}:{self.listen[1]}: "
                           f"{exc.strerror}.", "stop whatever holds that port.") from None
        listener.listen()
        self._listener = listener
        self._spawn(self._accept, listener)
        return self

    def stop(self) -> None:
        """Close the listener and every connection, and wait for the threads to end."""
        if self._listener is None:
            return
        self._stopping = True
        # accept() is not woken by close() everywhere; a connection of our own wakes it.
        with suppress(OSError):
            socket.create_connection(self.address, timeout=1).close()
        self._listener.close()
        with self._lock:
            _cut(*self._open)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener = None

    def __enter__(self) -> ResponseDroppingProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _spawn(self, target, *args) -> None:
        # Daemon threads: a notebook kernel that is interrupted never hangs on a proxy.
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name=f"proxy-{self.listen[1]}-{target.__name__}")
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._stopping:
                client.close()
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:  # the broker is down: the client sees a refused broker too
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            produce_ids: set[int] = set()
            self._spawn(self._requests, client, upstream, produce_ids)
            self._spawn(self._responses, upstream, client, produce_ids)

    def _requests(self, client: socket.socket, upstream: socket.socket,
                  produce_ids: set[int]) -> None:
        """Client to broker: note each produce request's correlation id, forward the frame."""
        for frame in _frames(client):
            api_key, _version, correlation_id = struct.unpack_from(">hhi", frame, 4)
            if api_key == PRODUCE:
                # Noted before the request goes on, so it is there when the response comes.
                produce_ids.add(correlation_id)
            try:
                upstream.sendall(frame)
            except OSError:
                break
        self._close(client, upstream)

    def _responses(self, upstream: socket.socket, client: socket.socket,
                   produce_ids: set[int]) -> None:
        """Broker to client: forward each response, but lose an armed produce response."""
        for frame in _frames(upstream):
            (correlation_id,) = struct.unpack_from(">i", frame, 4)
            if correlation_id in produce_ids:
                produce_ids.discard(correlation_id)
                if self._take_arm():
                    break  # the response is never sent: the connection ends here
            try:
                client.sendall(frame)
            except OSError:
                break
        self._close(client, upstream)

    def _close(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.difference_update(socks)
        _cut(*socks)


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    if not host or not port.isdigit():
        raise LabError(f"{address!r} is not a host:port address.",
                       "write each broker as host:port, e.g. 127.0.0.1:9192.")
    return host, int(port)


def proxy_routes(bootstrap: str) -> dict[str, str]:
    """Where each broker's proxy listens -> where it forwards, from a bootstrap list.

    The lab's convention: a broker whose PLAINTEXT listener is at port P has its
    PROXIED listener bound at P+2 and advertised at P+3, so
    "127.0.0.1:9192,127.0.0.1:9292" gives {"127.0.0.1:9195": "127.0.0.1:9194",
    "127.0.0.1:9295": "127.0.0.1:9294"}.
    """
    routes = {}
    for address in bootstrap.split(","):
        host, port = _host_port(address)
        routes[f"{host}:{port + 3}"] = f"{host}:{port + 2}"
    return routes


@dataclass(frozen=True)
class LostAck:
    """What one run of `duplicates_after_lost_ack` counted.

    `acknowledged` counts the delivery reports without an error, `in_log` the records
    read back from the topic, `distinct` the different values among them (every value
    sent is unique), `duplicates` how many records the log holds once too often
    (`in_log - distinct`), `dropped` the produce responses the proxy lost.
    """

    idempotent: bool
    sent: int
    acknowledged: int
    in_log: int
    distinct: int
    duplicates: int
    dropped: int


def _producer_config(bootstrap: str, idempotent: bool, timeout_s: float) -> dict[str, object]:
    """Every producer setting the experiment depends on, set explicitly."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": idempotent,
        # A request whose connection broke is "possibly persisted": librdkafka sends its
        # messages again only while retries remain. Without retries no duplicate can occur.
        "retries": 10,
        # One produce request in flight per broker: the lost response belongs to the only
        # batch on the wire, so that batch, and nothing else, is what the retry repeats.
        # With 5 in flight, the requests sent behind it are cut off too and repeated as
        # well when the broker had written them: still duplicates, but more of them.
        "max.in.flight.requests.per.connection": 1,
        # Long enough for the second half to be queued before its request goes out, so it
        # goes as one batch and is duplicated whole (with 0, the first record goes alone).
        "linger.ms": 5,
        "delivery.timeout.ms": int(timeout_s * 1000),
    }


def duplicates_after_lost_ack(topic: str, *, idempotent: bool, routes: Mapping[str, str],
                              records: int = 100, timeout_s: float = 30.0) -> LostAck:
    """Produce `records` unique values to `topic` through one proxy per broker (`routes`,
    listen -> upstream, see `proxy_routes`), losing one produce response, and count
    what reached the log.

    The first half is produced and flushed with the proxies passing everything (the
    producer connects, learns the leader and, if idempotent, gets its producer id).
    Then the proxy in front of the partition's leader is armed and the second half
    is produced, in one produce request (it is queued within `linger.ms`): the broker
    writes it, its response is lost, and the producer sends it again. Without
    idempotence that batch lands twice; with it, the broker recognises the batch's
    producer id and sequence number, and acknowledges it without a second write.

    `topic` must be fresh (empty) and have one partition: `topics.fresh_topic(prefix,
    partitions=1)` on the cluster the routes lead to.
    """
    if records < 2:
        raise LabError(f"records={records}: the experiment produces two batches.",
                       "produce at least 2 records (the default is 100).")
    if not routes:
        raise LabError("No proxy routes given.",
                       "pass routes=proxy_routes(bootstrap), one per broker.")
    bootstrap = ",".join(routes)
    with ExitStack() as stack:
        proxies = {listen: stack.enter_context(
            ResponseDroppingProxy(_host_port(listen), _host_port(upstream)))
            for listen, upstream in routes.items()}
        # Both clients close before the proxies stop (the stack unwinds in reverse), so
        # neither sees its connections cut once more at the end.
        producer = clients.producer(**_producer_config(bootstrap, idempotent, timeout_s))
        stack.callback(producer.close)
        reader = clients.consumer(**{"bootstrap.servers": bootstrap})
        stack.callback(reader.close)
        leader = proxies.get(_leader(reader, topic, timeout_s))
        if leader is None:
            raise LabError(f"The leader of {topic!r} is not behind any proxy of {bootstrap}.",
                           "give a route for every broker of the cluster (proxy_routes of "
                           "the whole bootstrap list).")
        if (ends := _watermarks(reader, topic, timeout_s)) != (0, 0):
            raise LabError(f"Topic {topic!r} is not empty (offsets {ends[0]} to {ends[1]}): "
                           "its earlier records would be counted.",
                           "use a fresh topic: `lk.topics.fresh_topic(prefix, partitions=1)`.")
        acknowledged, errors = 0, []

        def delivered(err, _msg) -> None:
            nonlocal acknowledged
            if err is None:
                acknowledged += 1
            else:
                errors.append(err.str())

        def produce(values: range) -> None:
            for value in values:
                producer.produce(topic, value=str(value).encode(), partition=0,
                                 on_delivery=delivered)
            if producer.flush(timeout_s) or errors:
                raise LabError(f"Producing to {topic!r} through the proxies failed: "
                               f"{errors[0] if errors else 'no acknowledgement in time'}.",
                               f"check that each broker behind {bootstrap} has its PROXIED "
                               "listener advertised there (see proxy_routes).")

        first = records // 2
        produce(range(first))
        leader.arm()
        produce(range(first, records))
        values = _values(reader, topic, timeout_s)
        dropped = sum(proxy.dropped for proxy in proxies.values())
    return LostAck(idempotent=idempotent, sent=records, acknowledged=acknowledged,
                   in_log=len(values), distinct=len(set(values)),
                   duplicates=len(values) - len(set(values)), dropped=dropped)


def _leader(consumer, topic: str, timeout_s: float) -> str:
    """The host:port the client was told partition 0's leader is at (a proxy's)."""
    try:
        partitions = clients.topic_metadata(consumer, topic, timeout_s=timeout_s).partitions
        brokers = consumer.list_topics(timeout=timeout_s).brokers
    except KafkaException as exc:
        raise clients.kafka_unreachable(exc) from None
    if len(partitions) != 1:
        raise LabError(f"Topic {topic!r} has {len(partitions)} partitions; the experiment "
                       "loses the response of one partition's leader.",
                       "create it with `lk.topics.fresh_topic(prefix, partitions=1)`.")
    broker = brokers.get(partitions[0].leader)  # none while a leader is being elected
    return f"{broker.host}:{broker.port}" if broker else "no leader"


def _watermarks(consumer, topic: str, timeout_s: float) -> tuple[int, int]:
    """(first offset, end offset) of partition 0 of `topic`."""
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout_s)
    except KafkaException as exc:
        raise clients.kafka_unreachable(exc) from None


def _values(consumer, topic: str, timeout_s: float) -> list[bytes]:
    """Every value in partition 0 of `topic`, from its first offset to its end."""
    _, end = _watermarks(consumer, topic, timeout_s)
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values: list[bytes] = []
    while len(values) < end:
        msg = consumer.poll(timeout_s)
        if msg is None:
            raise LabError(f"Reading {topic!r} back stopped at {len(values)} of {end} records "
                           f"within {timeout_s:.0f} s.", "check the cluster's brokers.")
        if msg.error() is not None:
            raise LabError(f"Reading {topic!r} back failed: {msg.error().str()}",
                           "check the cluster's brokers.")
        values.append(msg.value())
    return values
