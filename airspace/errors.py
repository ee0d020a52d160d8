"""The airspace package's errors.

One base, ``AirspaceError``; each concrete error also inherits the matching built-in so that
callers who only know Python's exceptions still catch it. Every error has a stable ``code``
that the API turns into a problem response.
"""

from __future__ import annotations


class AirspaceError(Exception):
    """Base of every error raised by the ``airspace`` package."""

    code = "airspace_error"


class DatasetError(AirspaceError, ValueError):
    """A dataset file is broken; the whole dataset is refused.

    The message names the file, the feature (index and id) and the problem.
    """

    code = "invalid_dataset"

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        feature_index: int | None = None,
        feature_id: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.feature_index = feature_index
        self.feature_id = feature_id
        where = []
        if file is not None:
            where.append(file)
        if feature_index is not None:
            where.append(f"feature #{feature_index}")
        if feature_id is not None:
            where.append(f"id {feature_id!r}")
        super().__init__(f"{', '.join(where)}: {problem}" if where else problem)


class OutOfServiceAreaError(AirspaceError, ValueError):
    """A position lies outside every jurisdiction of the dataset."""

    code = "outside_service_area"


class InvalidPositionError(AirspaceError, ValueError):
    """A latitude, longitude or altitude is not a finite value in its range."""

    code = "invalid_position"


class InvalidInstantError(AirspaceError, ValueError):
    """An instant the system cannot work with: not a datetime, or outside the supported years
    (``airspace.timing.EARLIEST_TIME`` to ``LATEST_TIME``)."""

    code = "invalid_instant"


class NaiveDatetimeError(InvalidInstantError):
    """A datetime without a time zone was given where an instant is required."""

    code = "naive_datetime"
