"""aifactory: the operating platform of an EU AI Factory federation."""

__version__ = "0.1.0"
