"""Executor adapters behind the one port of :mod:`aifactory.domain.execution`."""
