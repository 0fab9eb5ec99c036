"""Redis cache-aside shared by the services; PostgreSQL stays the system of record.

Keys (architecture.md): ``<entity>:<id>`` for items, ``<entity>:list:v<generation>:<query-hash>``
for lists, where ``<entity>:list:generation`` is bumped after every commit that changes the entity,
and ``<entity>:<id>:version`` is bumped after every commit that changes that item.

Why a fill is guarded: a reader that loaded a row just before a writer committed must not put the
old row back after the writer deleted it. Writers delete the item keys and bump the versions and the
generation in one MULTI after their commit; a reader only stores what it loaded if the item's
version (a list: the generation) is still the one it saw before loading. So a GET that follows a
successful write never sees the old value. Items are guarded per item, not by the entity's
generation, so that a write to one product does not make concurrent fills of every other fail.

Why a writer may refill (``refresh``): after its invalidation it reads the row again, as any reader
would, and stores it under the same guard. It never writes the row it wrote itself: two writers'
rows could land in the wrong order, while a fresh read after the invalidation is at least as new as
both commits, and the guard drops it if yet another write came in between. Without the refill every
write would cost the next read a miss.

Cached documents are JSON bytes, served as they are stored (``item_json``, ``listing_json``): a hit
neither decodes nor re-encodes them.

Each process also keeps a copy of what it read from Redis (local_cache.py), invalidated by Redis
itself (client-side caching, broadcast tracking): a repeated read is answered without a round
trip. That is why a write drops its keys from this process's copy at once, and why its
invalidation ends with one more round trip to Redis (``_send_invalidations``).

Any RedisError means "no cache": reads and writes go to PostgreSQL and ``/health`` says degraded.

Why failed invalidations are kept: a write that commits while Redis is unreachable cannot delete
the stale entries, and Redis may come back with them (AOF or RDB, or a partition, not a restart).
So the process keeps what it failed to invalidate and replays it before it next reads from or
writes to the cache (readiness checks replay too); while any is pending its reads skip the cache.
That keeps read-your-writes within this process. Other processes (this service's other gunicorn
workers, the other services) cannot know: they may serve those entries until this process replays
(at its next request or readiness check) or the entries expire, so staleness is bounded by
CACHE_ITEM_TTL_SECONDS / CACHE_LIST_TTL_SECONDS. We accept that: it takes a write during an outage
and a Redis that comes back with its data, and the TTLs are minutes at most.
A tighter bound would need the invalidations recorded outside Redis (an outbox table in
PostgreSQL, replayed by whichever process finds Redis back), which we do not judge worth it here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from collections.abc import Callable, Mapping
from typing import Any, cast

import orjson
import redis
from flask import current_app
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection
from redis.exceptions import NoScriptError
from redis.retry import Retry

from servicekit.local_cache import LocalCache
from servicekit.settings import Settings

logger = logging.getLogger(__name__)

JsonValue = dict[str, Any]
GENERATION = "{generation}"

# One round trip per lookup: resolve the list generation, read, count the hit or the miss.
# KEYS: generation counter, hits counter, misses counter. ARGV[1]: key, GENERATION as placeholder.
_LOOKUP = """
local generation = redis.call('GET', KEYS[1]) or '0'
local key = string.gsub(ARGV[1], '{generation}', generation)
local value = redis.call('GET', key)
if value then redis.call('INCR', KEYS[2]) else redis.call('INCR', KEYS[3]) end
return {generation, value}
"""

# One round trip per item read: the document, or (a miss) the item's version to guard the fill.
# KEYS: item key, item version, hits counter, misses counter.
_ITEM_LOOKUP = """
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('INCR', KEYS[3])
  return value
end
redis.call('INCR', KEYS[4])
return {redis.call('GET', KEYS[2]) or '0'}
"""

# KEYS: the guard (an item's version or the list generation). ARGV: key, value, ttl seconds, the
# guard's value seen before loading.
_STORE_IF_CURRENT = """
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[4] then return 0 end
redis.call('SET', ARGV[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

# A cache must fail fast: redis-py's default retries would hold a request for seconds.
_SOCKET_TIMEOUT_SECONDS = 0.25
# Each connection reads into a buffer of this size, allocated when it is made: a worker holds one
# connection per thread, its tracking connection and the pool's. redis-py's 64 KB default is sized
# for bulk replies; a cached document is a few kilobytes, and a larger one takes a second read.
_SOCKET_READ_BYTES = 16 * 1024
# An item's version only has to outlive any fill that read it (statement timeout 5 s, plus socket
# timeouts): an hour is ample, and idle items do not keep a key forever.
_VERSION_TTL_SECONDS = 3600


class Cache:
    def __init__(self, settings: Settings, client: redis.Redis | None = None) -> None:
        self._settings = settings
        self._service = settings.service_name
        self._item_ttl = settings.cache_item_ttl_seconds
        self._list_ttl = settings.cache_list_ttl_seconds
        self._counters = [self._counter_key("hits"), self._counter_key("misses")]
        self._connect(client)
        self._healthy = True
        # Invalidations that failed: entity -> item ids (the list generation is bumped as well).
        self._pending: dict[str, set[int]] = {}
        self._replaying = False
        self._replay_state = threading.Condition()

    def _connect(self, client: redis.Redis | None = None) -> None:
        """A client and its scripts, built once (in gunicorn's master). Nothing connects yet."""
        self._client = client or _new_client(self._settings)
        self._lookup = self._client.register_script(_LOOKUP)
        self._item_lookup = self._client.register_script(_ITEM_LOOKUP)
        self._store_if_current = self._client.register_script(_STORE_IF_CURRENT)
        self._start_process_state()

    def _start_process_state(self) -> None:
        """What one process must not share with another: connections, threads, the local copy."""
        self._client.connection_pool.reset()
        # The read path's own connections, one per thread (see _run_lookup).
        self._thread_state = threading.local()
        self._lookup_connections: list[AbstractConnection] = []
        self._lookup_connections_lock = threading.Lock()
        # Its connection and thread start on first use, so after the fork like everything here.
        self._local = LocalCache(
            self._new_tracking_connection,
            self._settings.cache_local_max_bytes,
            self._add_local_hits,
        )

    def after_fork(self) -> None:
        """In a new worker: connections and a local copy of its own (sockets must not be shared
        across a fork, and a thread of the parent does not exist in the child).

        The client itself is kept: building one in each worker would write to (and so copy) a
        few megabytes of the pages the worker shares with the master; its pool starts empty.
        """
        self._start_process_state()

    def item(self, entity: str, item_id: int, load: Callable[[], JsonValue]) -> JsonValue:
        value: JsonValue = orjson.loads(self.item_json(entity, item_id, load))
        return value

    def item_json(self, entity: str, item_id: int, load: Callable[[], JsonValue]) -> bytes:
        """The item's JSON document: from Redis as stored, or loaded, stored and returned."""
        if not self._replay_invalidations(wait=False):
            return _encode(load())
        key, version_key = f"{entity}:{item_id}", _version_key(entity, item_id)
        slot = self._local.lookup(entity, key)
        if isinstance(slot, bytes):
            return slot
        try:
            found = self._run_lookup(self._item_lookup, [key, version_key, *self._counters], [])
        except redis.RedisError as error:
            self._mark(healthy=False, error=error)
            return _encode(load())
        if isinstance(found, bytes):
            if slot is not None:
                self._local.store(slot, found)
            return found
        return self._fill(version_key, found[0], key, self._item_ttl, load)

    def refresh(self, entity: str, item_id: int, load: Callable[[], JsonValue]) -> None:
        """After a write's invalidation: read the item again and store it (module docstring)."""
        if not self._replay_invalidations(wait=False):
            return
        version_key = _version_key(entity, item_id)
        try:
            version = self._client.get(version_key)
        except redis.RedisError as error:
            self._mark(healthy=False, error=error)
            return
        guard = version if isinstance(version, bytes) else b"0"
        self._fill(version_key, guard, f"{entity}:{item_id}", self._item_ttl, load)

    def listing(
        self, entity: str, query: Mapping[str, Any], load: Callable[[], JsonValue]
    ) -> JsonValue:
        value: JsonValue = orjson.loads(self.listing_json(entity, query, load))
        return value

    def listing_json(
        self, entity: str, query: Mapping[str, Any], load: Callable[[], JsonValue]
    ) -> bytes:
        canonical = json.dumps(query, sort_keys=True, separators=(",", ":"), default=str)
        query_hash = hashlib.sha256(canonical.encode()).hexdigest()[:32]
        key = f"{entity}:list:v{GENERATION}:{query_hash}"
        if not self._replay_invalidations(wait=False):
            return _encode(load())
        generation_key = _generation_key(entity)
        slot = self._local.lookup_listing(entity, generation_key, key)
        if isinstance(slot, bytes):
            return slot
        try:
            generation, cached = self._run_lookup(
                self._lookup, [generation_key, *self._counters], [key]
            )
        except redis.RedisError as error:
            self._mark(healthy=False, error=error)
            return _encode(load())
        key = key.replace(GENERATION, generation.decode())
        if slot is not None:
            self._local.store_listing(slot, generation, key, cached)
        if cached is not None:
            found: bytes = cached
            return found
        return self._fill(generation_key, generation, key, self._list_ttl, load)

    def invalidate(self, entity: str, *item_ids: int) -> None:
        """Call after the commit: drop the entity's items and retire every cached list.

        When Redis cannot be reached the write itself has still succeeded: the invalidation is
        kept and replayed before this process next uses the cache (see the module docstring).
        """
        self._local.discard(
            [f"{entity}:{item_id}" for item_id in item_ids] + [_generation_key(entity)]
        )
        with self._replay_state:
            self._pending.setdefault(entity, set()).update(item_ids)
        self._replay_invalidations(wait=True)

    def _replay_invalidations(self, *, wait: bool) -> bool:
        """Send every pending invalidation; True when none is left, i.e. the cache can be trusted.

        ``wait``: a writer waits for a replay running in another thread, then sends its own; a
        reader does not wait and skips the cache for this request instead.
        """
        with self._replay_state:
            while self._replaying and wait:
                self._replay_state.wait()
            if self._replaying:
                return False
            if not self._pending:
                return True
            batch, self._pending = self._pending, {}
            self._replaying = True
        sent = False
        try:
            self._send_invalidations(batch)
            sent = True
        except redis.RedisError as error:
            self._mark(healthy=False, error=error)
        finally:
            with self._replay_state:
                if not sent:
                    for entity, item_ids in batch.items():
                        self._pending.setdefault(entity, set()).update(item_ids)
                self._replaying = False
                self._replay_state.notify_all()
        if sent:
            self._mark(healthy=True)
        return sent

    def _send_invalidations(self, batch: Mapping[str, set[int]]) -> None:
        with self._client.pipeline(transaction=True) as pipeline:
            for entity, item_ids in batch.items():
                if item_ids:
                    pipeline.delete(*(f"{entity}:{item_id}" for item_id in sorted(item_ids)))
                for item_id in sorted(item_ids):
                    pipeline.incr(_version_key(entity, item_id))
                    pipeline.expire(_version_key(entity, item_id), _VERSION_TTL_SECONDS)
                pipeline.incr(_generation_key(entity))
            pipeline.execute()
        # Redis pushed the invalidations to every process's local copy while it ran the MULTI,
        # and writes them out no later than its reply; one more round trip makes sure they have
        # left before this write answers its client (local_cache.py, read-your-writes).
        self._client.ping()

    def counters(self) -> dict[str, int | None]:
        self._local.report_hits()
        try:
            # redis-py types a command's reply as "maybe awaitable" for its sync and async clients.
            counts = self._client.mget(self._counter_key("hits"), self._counter_key("misses"))
            hits, misses = cast(list[bytes | None], counts)
        except redis.RedisError as error:
            self._mark(healthy=False, error=error)
            return {"hits": None, "misses": None}
        return {"hits": int(hits or 0), "misses": int(misses or 0)}

    def ping(self) -> bool:
        """Redis answers; also the earliest chance to replay invalidations that failed."""
        try:
            self._client.ping()
        except redis.RedisError as error:
            self._mark(healthy=False, error=error)
            return False
        self._mark(healthy=True)
        self._replay_invalidations(wait=False)
        return True

    def close(self) -> None:
        self._local.close()
        with self._lookup_connections_lock:
            connections, self._lookup_connections = self._lookup_connections, []
        for connection in connections:
            connection.disconnect()
        self._client.close()

    def _run_lookup(self, script: Any, keys: list[str], args: list[str]) -> Any:
        """EVALSHA on this thread's own connection: the one command of every cached read.

        redis-py's generic path (Redis.execute_command through the pool) spends more GIL time per
        command than the rest of a cached read: a pool lock, a fork check and a poll() on every
        checkout, argument filtering (py-spy --gil on a worker under load). Reads need none of
        it: each gthread thread keeps one connection, built with the client's own settings
        (timeouts, password, no retries). Any error drops the connection, like the pool.
        """
        connection = getattr(self._thread_state, "connection", None)
        if connection is None:
            pool = self._client.connection_pool
            connection = pool.connection_class(**pool.connection_kwargs)
            with self._lookup_connections_lock:
                self._lookup_connections.append(connection)
            self._thread_state.connection = connection
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        state = self._thread_state
        try:
            result = self._send(connection, script, command)
        except redis.ConnectionError:
            if not getattr(state, "answered", False):
                raise
            # A connection left open across a Redis restart fails on first use; the pool would
            # have found it dead at checkout. One fresh attempt, no more (a cache fails fast).
            state.answered = False
            result = self._send(connection, script, command)
        state.answered = True
        return result

    def _send(self, connection: AbstractConnection, script: Any, command: tuple[Any, ...]) -> Any:
        try:
            connection.send_command(*command)
            try:
                return connection.read_response()
            except NoScriptError:
                # Redis restarted or its scripts were flushed: load it again, then retry.
                self._client.script_load(script.script)
                connection.send_command(*command)
                return connection.read_response()
        except BaseException:
            connection.disconnect()
            raise

    def _fill(
        self, guard_key: str, guard: bytes, key: str, ttl: int, load: Callable[[], JsonValue]
    ) -> bytes:
        """Load, then store only if ``guard_key`` still holds ``guard`` (seen before loading)."""
        payload = _encode(load())
        # Up to 10% jitter so that entries filled together do not all expire together.
        ttl_with_jitter = ttl + random.randint(0, max(1, ttl // 10))
        try:
            self._store_if_current(keys=[guard_key], args=[key, payload, ttl_with_jitter, guard])
        except redis.RedisError as error:
            self._mark(healthy=False, error=error)
        return payload

    def _new_tracking_connection(self) -> AbstractConnection:
        """A RESP3 connection with the client's settings, named so that operators can find it."""
        pool = self._client.connection_pool
        kwargs = {
            **pool.connection_kwargs,
            "protocol": 3,
            "client_name": f"{self._service}-invalidations",
        }
        connection: AbstractConnection = pool.connection_class(**kwargs)
        return connection

    def _add_local_hits(self, hits: int) -> bool:
        """Hits answered by the local copy, added to the shared counter in one command."""
        try:
            self._client.incrby(self._counter_key("hits"), hits)
        except redis.RedisError:
            return False
        return True

    def _counter_key(self, kind: str) -> str:
        return f"stats:{self._service}:cache:{kind}"

    def _mark(self, *, healthy: bool, error: Exception | None = None) -> None:
        # Log transitions only: a Redis outage would otherwise add a warning to every request.
        if healthy != self._healthy:
            if healthy:
                logger.info("cache available again")
            else:
                logger.warning("cache unavailable, serving from the database: %s", error)
        self._healthy = healthy


def _new_client(settings: Settings) -> redis.Redis:
    pool = redis.ConnectionPool(
        host=settings.redis_host,
        port=settings.redis_port,
        db=settings.redis_db,
        password=settings.redis_password,
        socket_timeout=_SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=_SOCKET_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), retries=0),
        socket_read_size=_SOCKET_READ_BYTES,
    )
    # from_pool: closing the client closes the pool's connections too.
    return redis.Redis.from_pool(pool)


def _generation_key(entity: str) -> str:
    return f"{entity}:list:generation"


def _version_key(entity: str, item_id: int) -> str:
    return f"{entity}:{item_id}:version"


def _encode(value: JsonValue) -> bytes:
    return orjson.dumps(value)


def current_cache() -> Cache:
    cache: Cache = current_app.extensions["servicekit.cache"]
    return cache
