"""The run log told back: the workflow document in Markdown and HTML."""
