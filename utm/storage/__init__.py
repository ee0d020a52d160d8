"""Where flights live: the storage Protocol and its SQLite and PostgreSQL implementations."""

from utm.storage.base import FlightSummary, HeldVolume, Store, Transaction, open_store

__all__ = ["FlightSummary", "HeldVolume", "Store", "Transaction", "open_store"]
