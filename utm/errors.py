"""The utm package's errors: caller mistakes and impossible states (rejections are Decisions)."""

from __future__ import annotations


class UtmError(Exception):
    """Base of every error raised by the ``utm`` package."""

    code = "utm_error"


class InvalidPlanError(UtmError, ValueError):
    """A flight plan is malformed (times, window, drone, endpoints)."""

    code = "invalid_flight_plan"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class FlightNotFoundError(UtmError, LookupError):
    """No flight plan has this id (or the caller may not see it)."""

    code = "flight_plan_not_found"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidTransitionError(UtmError, ValueError):
    """The flight's state does not allow this action."""

    code = "invalid_state_transition"


class ReviewNotFoundError(UtmError, LookupError):
    """No review of this flight waits for this jurisdiction."""

    code = "review_not_found"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidConstraintError(UtmError, ValueError):
    """A temporary restriction is malformed."""

    code = "invalid_constraint"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidTelemetryError(UtmError, ValueError):
    """A position report is malformed or for a flight that is not flying."""

    code = "invalid_telemetry"


class StoreUnavailableError(UtmError, ConnectionError):
    """The database cannot be reached; the request may be retried."""

    code = "store_unavailable"


class StoreWriteError(UtmError, OSError):
    """The database refused a write (disk full, read-only file); nothing was stored.

    ``reason`` is ``"full"`` (no space left), ``"read_only"`` (the file, its file system or
    the server is read-only) or ``"refused"`` (another error while writing)."""

    code = "store_write_failed"

    def __init__(self, message: str, *, reason: str = "refused") -> None:
        super().__init__(message)
        self.reason = reason

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StoreConflictError(UtmError, RuntimeError):
    """Another writer got in the way (a deadlock, a lock that could not be taken in order, or
    a database constraint caught a race); nothing was stored and the whole decision may be
    retried. ``lock_keys`` are the locks the transaction held or wanted: a retry that takes
    them all up front, in order, does not meet the same conflict again."""

    code = "store_conflict"

    def __init__(self, message: str, *, lock_keys: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.lock_keys = lock_keys
