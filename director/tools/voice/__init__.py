"""Voices for a film's lines: the offline scratch voice (libespeak-ng, for timing only) and
hosted speech models, all behind ``director.tools.base.VoiceBackend``."""
