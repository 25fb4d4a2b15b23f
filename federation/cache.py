"""A small bounded LRU map for the process-local caches of the party side.

The caches that use it hold what one party already has (its validated table, its run
state): nothing here is sent anywhere or revealed to anyone, and an entry that is evicted
is only rebuilt from the party's own files. Each cache names its owner and bound where it is
defined.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """At most ``maxsize`` entries; storing one more drops the least recently used."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value at ``key`` (now the most recently used), or None."""
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Store ``value`` at ``key`` as the most recently used entry."""
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def pop(self, key: K) -> V | None:
        """Remove ``key``; its value, or None when absent."""
        return self._data.pop(key, None)

    def keys(self) -> list[K]:
        """A snapshot of the keys, least recently used first."""
        return list(self._data)

    def clear(self) -> None:
        self._data.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)


__all__ = ["BoundedLRU"]
