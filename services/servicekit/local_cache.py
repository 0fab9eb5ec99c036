"""A worker's own copy of cached documents, kept correct by Redis server-assisted invalidation.

A cached read that Redis answers costs a round trip (the ``EVALSHA`` of cache.py) and the GIL
hand-overs around it; this copy answers repeated reads of the same key from the process's memory.
It holds exactly what Redis holds, under the same keys (items, list generations, lists), bounded
in bytes (least recently used out first), and it is only ever filled with a value read from Redis.

How it stays correct (docs/architecture.md, "Cache keys"):

- One connection per process speaks RESP3 with ``CLIENT TRACKING ON BCAST PREFIX <entity>:`` for
  every entity the process reads, so Redis pushes an ``invalidate`` message on it for every later
  change of any such key: a write's ``DEL``/``INCR``, a fill, an expiry, an eviction; ``FLUSHALL``
  and ``FLUSHDB`` push a null message, which empties the copy. Broadcast mode does not depend on
  which connection read a key, so the per-thread read connections of cache.py need no setup.
- Before answering from the copy, the thread polls that connection without blocking and applies
  every message already received. A writer (any process, any service) sends its invalidation,
  waits for the reply and then makes one more round trip (cache.py ``invalidate``): Redis writes
  the push to this connection before it answers that second command, so the push is on its way
  here before the writer even answers its client. The reader's request comes after the writer's
  reply has crossed the gateway, the client and the gateway again, so the push has arrived; that
  is the one assumption, the same on one host or across a network: a message does not take
  longer than a full client round trip through the gateway.
- A value read from Redis is stored only if no invalidation of its key (nor a flush) was applied
  since just before the read was sent: the read reserves the key's slot first (a placeholder, or
  the list generation it relies on), an invalidation removes whatever the slot holds, and the
  store checks that the slot still holds the very object reserved.
- Nothing is reserved or served unless the tracking connection is up, tracks the key's entity,
  and Redis answered on it within the last ``_LIVENESS_SECONDS`` (a ``PING`` every second): a
  connection lost silently (a partition, no FIN) stops local answers within seconds. A lost
  connection (an error, EOF: Redis restarted, ``CLIENT KILL``) empties the copy before anything
  else is answered; a new connection starts empty.

A list entry is valid as long as the generation it was stored under is current: the copy keeps
``<entity>:list:generation`` as Redis returned it and looks lists up under that generation only.
The lists go with their generation's entry (a write's invalidation, an eviction): no later lookup
could reach them, and until they expired in Redis (whose expiry would then invalidate them here)
they would hold the copy's room, in a process that lists while it writes, all of it.

Hits answered here are counted in the process and added to Redis' hit counter every second and
before ``/api/v1/stats`` reads it (``report_hits``), so the counters keep their meaning.

One maintenance thread per process (started on first use, hence after gunicorn's fork) connects,
adds prefixes, pings, drains when the process is idle and reports hits; requests never wait for a
connection attempt.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis._parsers import _HiredisParser, _RESP3Parser
from redis.connection import AbstractConnection

from servicekit.input_check import input_check, nothing_waiting

logger = logging.getLogger(__name__)

# How long a reply on the tracking connection vouches for it (see the module docstring).
_LIVENESS_SECONDS = 3.0
_MAINTENANCE_INTERVAL_SECONDS = 1.0
# A rough per-entry cost of the dict, key and bytes objects, so many tiny entries stay bounded too.
_ENTRY_OVERHEAD_BYTES = 120


class _Pending:
    """A slot reserved for a value being read from Redis; removed by an invalidation of its key."""

    __slots__ = ()


@dataclass(frozen=True)
class Slot:
    """What a read reserved: ``guard`` is the object the key's slot held when the read was sent."""

    key: str
    guard: bytes | _Pending


@dataclass(frozen=True)
class _Invalidation:
    keys: list[bytes] | None  # None: everything (FLUSHALL, FLUSHDB)

    @classmethod
    def from_push(cls, message: list[Any]) -> _Invalidation:
        return cls(message[1])


Reply = Callable[[Any], None]


class LocalCache:
    def __init__(
        self,
        new_connection: Callable[[], AbstractConnection],
        max_bytes: int,
        report_hits: Callable[[int], bool],
    ) -> None:
        """``new_connection`` makes an unconnected RESP3 connection; ``report_hits(n)`` adds n
        local hits to Redis' counter and returns False when that failed (they are kept)."""
        self._new_connection = new_connection
        self._max_bytes = max_bytes
        self._report_hits = report_hits
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, bytes | _Pending] = OrderedDict()
        # The lists stored under each generation entry, and each list's generation entry.
        self._listings: dict[str, set[str]] = {}
        self._generation_of: dict[str, str] = {}
        self._size = 0
        self._hits = 0
        self._connection: AbstractConnection | None = None
        self._replies: deque[tuple[float, Reply]] = deque()
        self._wanted: set[str] = set()  # entities ever read here
        self._requested: set[str] = set()  # prefixes asked for on this connection
        self._tracked: set[str] = set()  # prefixes Redis confirmed on this connection
        self._confirmed_at = float("-inf")
        self._has_input: Callable[[], bool] = nothing_waiting
        self._healthy = True
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def lookup(self, entity: str, key: str) -> bytes | Slot | None:
        """The value (a hit), or the slot reserved for reading it; None: the copy is not usable."""
        with self._lock:
            if not self._usable(entity):
                return None
            found = self._entries.get(key)
            if isinstance(found, bytes):
                return self._hit(key, found)
            return self._reserve(key, found)

    def lookup_listing(self, entity: str, generation_key: str, key: str) -> bytes | Slot | None:
        """``key`` has the placeholder ``{generation}``; the slot guards the generation."""
        with self._lock:
            if not self._usable(entity):
                return None
            generation = self._entries.get(generation_key)
            if isinstance(generation, bytes):
                listing_key = key.replace("{generation}", generation.decode())
                found = self._entries.get(listing_key)
                if isinstance(found, bytes):
                    # The generation is as recently used as its lists: they go when it goes.
                    self._entries.move_to_end(generation_key)
                    return self._hit(listing_key, found)
            return self._reserve(generation_key, generation)

    def store(self, slot: Slot, value: bytes) -> None:
        with self._lock:
            # Apply what has arrived since the read: an invalidation of this key voids the slot.
            self._drain()
            if self._entries.get(slot.key) is slot.guard:
                self._put(slot.key, value)

    def store_listing(self, slot: Slot, generation: bytes, key: str, value: bytes | None) -> None:
        """``key``: the list's key under ``generation``, as Redis answered them; ``value`` None:
        Redis has no such list yet (only the generation is kept)."""
        with self._lock:
            self._drain()
            if self._entries.get(slot.key) is not slot.guard:
                return
            if isinstance(slot.guard, _Pending):
                self._put(slot.key, generation)
            elif slot.guard != generation:
                return  # the generation moved on; its invalidation is on its way
            if value is not None:
                self._put_listing(slot.key, key, value)

    def discard(self, keys: list[str]) -> None:
        """A write in this process: drop its keys now rather than when Redis' push arrives."""
        with self._lock:
            for key in keys:
                self._remove(key)

    @property
    def size(self) -> int:
        """The bytes the copy holds, as counted against ``max_bytes``."""
        return self._size

    def report_hits(self) -> None:
        with self._lock:
            hits, self._hits = self._hits, 0
        if hits and not self._report_hits(hits):
            with self._lock:
                self._hits += hits

    def close(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=2 * _MAINTENANCE_INTERVAL_SECONDS)
        with self._lock:
            self._lose(None)
        self.report_hits()

    def _usable(self, entity: str) -> bool:
        if not self._max_bytes:
            return False
        if entity not in self._wanted:
            self._wanted.add(entity)
            self._start()
        self._drain()
        if self._connection is None:
            return False
        if entity not in self._tracked:
            self._request_prefixes([entity])
            return False
        return time.monotonic() - self._confirmed_at < _LIVENESS_SECONDS

    def _hit(self, key: str, value: bytes) -> bytes:
        self._entries.move_to_end(key)
        self._hits += 1
        return value

    def _reserve(self, key: str, found: bytes | _Pending | None) -> Slot:
        if found is None:
            found = _Pending()
            self._put(key, found)
        return Slot(key, found)

    def _put(self, key: str, value: bytes | _Pending) -> None:
        self._remove(key)
        self._entries[key] = value
        self._size += _size(key, value)
        while self._size > self._max_bytes:
            self._remove(next(iter(self._entries)))

    def _put_listing(self, generation_key: str, key: str, value: bytes) -> None:
        self._put(key, value)
        # Either may have been evicted to make room (a list larger than the whole copy).
        if key in self._entries and generation_key in self._entries:
            self._listings.setdefault(generation_key, set()).add(key)
            self._generation_of[key] = generation_key

    def _remove(self, key: str) -> None:
        found = self._entries.pop(key, None)
        if found is None:
            return
        self._size -= _size(key, found)
        generation_key = self._generation_of.pop(key, None)
        if generation_key is not None:  # a list: no longer one of its generation's
            listings = self._listings.get(generation_key, set())
            listings.discard(key)
            if not listings:
                self._listings.pop(generation_key, None)
        for listing_key in self._listings.pop(key, ()):  # a generation: its lists go with it
            self._remove(listing_key)

    def _clear(self) -> None:
        self._entries.clear()
        self._listings.clear()
        self._generation_of.clear()
        self._size = 0

    def _drain(self) -> None:
        """Apply every message already received on the tracking connection, without waiting.

        Each drain reads until the parser's buffer is empty, so a socket with nothing to read
        means nothing is pending: one poll() answers the common case (redis-py's can_read costs
        about four times as much, on every cached read), without letting go of the GIL
        (input_check.py).
        """
        connection = self._connection
        if connection is None or not self._has_input():
            return
        self._drain_buffered()

    def _drain_buffered(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            while connection.can_read(timeout=0):
                self._receive(connection.read_response(push_request=True))
        except (redis.RedisError, OSError) as error:
            self._lose(error)

    def _receive(self, message: Any) -> None:
        if isinstance(message, _Invalidation):
            if message.keys is None:
                self._clear()
            else:
                for key in message.keys:
                    self._remove(key.decode())
            return
        if not self._replies:
            raise redis.ConnectionError(f"unexpected reply on the tracking connection: {message}")
        sent_at, on_reply = self._replies.popleft()
        # Redis answered a command sent at sent_at, so every push it made before is read by now.
        self._confirmed_at = sent_at
        on_reply(message)

    def _send(self, command: tuple[str, ...], on_reply: Reply) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            self._replies.append((time.monotonic(), on_reply))
            connection.send_command(*command)
        except (redis.RedisError, OSError) as error:
            self._lose(error)

    def _request_prefixes(self, entities: list[str]) -> None:
        missing = [entity for entity in entities if entity not in self._requested]
        if not missing:
            return
        self._requested.update(missing)
        self._send(_tracking_command(missing), lambda reply: self._tracked.update(missing))

    def _lose(self, error: Exception | None) -> None:
        """The connection is gone or unusable: forget it and everything it vouched for."""
        connection, self._connection = self._connection, None
        self._has_input = nothing_waiting
        self._clear()
        self._replies.clear()
        self._requested.clear()
        self._tracked.clear()
        if connection is not None:
            connection.disconnect()
        if error is not None:
            self._mark(healthy=False, error=error)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._maintain, name="servicekit-local-cache", daemon=True
            )
            self._thread.start()

    def _maintain(self) -> None:
        while not self._stopping.is_set():
            self._tick()
            self._stopping.wait(_MAINTENANCE_INTERVAL_SECONDS)

    def _tick(self) -> None:
        self.report_hits()
        with self._lock:
            self._drain()
            if self._replies and time.monotonic() - self._replies[0][0] > _LIVENESS_SECONDS:
                # Silent for too long (a partition, a hung Redis): start over on a new connection.
                self._lose(redis.TimeoutError("no reply on the tracking connection"))
            if self._connection is not None:
                self._send(("PING",), _ignore)
                return
            entities = sorted(self._wanted)
        if entities:  # tracking without a prefix would broadcast every key of Redis
            self._connect(entities)

    def _connect(self, entities: list[str]) -> None:
        """Outside the lock: a connection attempt may take its whole timeout."""
        connection = self._new_connection()
        parser = connection._parser
        if not isinstance(parser, _HiredisParser | _RESP3Parser):
            raise TypeError("the tracking connection must speak RESP3 (protocol=3)")
        parser.set_invalidation_push_handler(_Invalidation.from_push)
        sent_at = time.monotonic()
        try:
            connection.connect()
            connection.send_command(*_tracking_command(entities))
            # No push can come before this reply: tracking starts with this command.
            connection.read_response(push_request=True)
        except (redis.RedisError, OSError) as error:
            connection.disconnect()
            with self._lock:
                self._mark(healthy=False, error=error)
            return
        with self._lock:
            if self._stopping.is_set():
                connection.disconnect()
                return
            self._connection = connection
            # redis-py declares _sock as None until connected; it is the connected socket here.
            self._has_input = input_check(cast(socket.socket, connection._sock))
            self._requested = set(entities)
            self._tracked = set(entities)
            self._confirmed_at = sent_at
            self._mark(healthy=True)
            # The reply above may have come with pushes in the same read: apply them now, since
            # the socket will not poll readable for bytes already in the parser's buffer.
            self._drain_buffered()
            self._request_prefixes(sorted(self._wanted))

    def _mark(self, *, healthy: bool, error: Exception | None = None) -> None:
        # Transitions only: Redis being away would otherwise log every second.
        if healthy != self._healthy:
            if healthy:
                logger.info("local cache tracking Redis invalidations again")
            else:
                logger.warning("local cache off, no invalidation tracking: %s", error)
        self._healthy = healthy


def _tracking_command(entities: list[str]) -> tuple[str, ...]:
    prefixes = (part for entity in entities for part in ("PREFIX", f"{entity}:"))
    return ("CLIENT", "TRACKING", "ON", "BCAST", *prefixes)


def _size(key: str, value: bytes | _Pending) -> int:
    return len(key) + (len(value) if isinstance(value, bytes) else 0) + _ENTRY_OVERHEAD_BYTES


def _ignore(reply: Any) -> None:
    pass
