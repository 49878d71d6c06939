"""The part of the Redis adapters that connects to Redis database 9 and clears it."""

from __future__ import annotations

from typing import Any

from bench.peers import servers
from bench.peers.adapters import Adapter


class RedisAdapter(Adapter):
    store = "Redis"
    empty_polls = 2

    def __init__(self) -> None:
        self.redis: Any = None

    def connect(self) -> None:
        self.redis = servers.connect_redis()

    def reset(self) -> None:
        # FLUSHDB on the peers' own database only: other databases on the server stay untouched.
        self.redis.flushdb()

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()
