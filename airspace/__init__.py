"""Static and temporary airspace of a region on an H3 grid.

The leftmost layer of the project: it imports nothing from ``routes``, ``utm`` or ``api``.
Altitudes are metres above ground level (true height, 真高); instants are aware UTC datetimes.
"""

from airspace.classes import AirspaceClass
from airspace.errors import AirspaceError, DatasetError
from airspace.loading import bundled_dataset_path, load_dataset
from airspace.model import Airspace, Classification

__all__ = [
    "Airspace",
    "AirspaceClass",
    "AirspaceError",
    "Classification",
    "DatasetError",
    "bundled_dataset_path",
    "load_dataset",
]
