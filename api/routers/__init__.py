"""The API's routes, one module per area; ``api.app`` includes them all under ``/v1``."""
