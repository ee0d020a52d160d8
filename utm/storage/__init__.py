"""Where flights live: the storage Protocol and its SQLite and PostgreSQL implementations."""

from utm.storage.base import HeldVolume, Store, Transaction, open_store

__all__ = ["HeldVolume", "Store", "Transaction", "open_store"]
