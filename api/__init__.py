"""Thin interfaces over the registry service: the FastAPI app and the `provreg` CLI."""
