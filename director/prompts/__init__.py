"""Prompt templates and vocabularies, as files; the five-slot prompt lives in director.records."""
