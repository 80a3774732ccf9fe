"""The hub: the ASGI app that wires the packages, its settings, database and CLI."""
