"""director: turn a logline into a short film, and keep the record of how it was made."""

__version__ = "0.1.0"
