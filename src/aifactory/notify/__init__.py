"""Notification adapters: outgoing mail (``aifactory.notify.mail``)."""
