"""Python client for the aifactory API: ``Client(url, token)``; errors are ``ApiError``."""

from aifactory.sdk.client import ApiError, Client, is_final

__all__ = ["ApiError", "Client", "is_final"]
