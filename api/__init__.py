"""The HTTP edge: FastAPI service, OpenAPI, authentication and roles, the map page.

The rightmost layer: it may import ``airspace``, ``routes`` and ``utm``; nothing imports it.
fastapi, pydantic and starlette live here only. ``api.app.create_app()`` builds the service.
"""
