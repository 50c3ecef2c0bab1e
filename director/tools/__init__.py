"""Backends behind small protocols: planners (llm/), image/, video/, critics/, assemble/."""
