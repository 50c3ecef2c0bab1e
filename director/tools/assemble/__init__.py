"""Assembly with ffmpeg: clips, transitions, cards, subtitles, labels, music, probing."""
