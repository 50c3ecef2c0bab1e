"""Fake servers of hosted services on 127.0.0.1, driven by the real client libraries."""
