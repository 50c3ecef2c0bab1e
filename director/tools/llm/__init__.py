"""Planners: turn a logline into a story, beat sheet, style bible and shot list (offline rules; LLMs later)."""
