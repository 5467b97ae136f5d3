"""The HTTP API of Rosto.io (FastAPI): ``create_app`` in ``rosto.server.app``."""
