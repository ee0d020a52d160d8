"""Flight plans, approval across four cities, deconfliction and storage; the ``utm`` command.

Imports only from ``airspace`` and ``routes``. Kept free of imports so that ``utm.cli`` starts
quickly and ``import utm.errors`` does not pull in the whole engine.
"""
