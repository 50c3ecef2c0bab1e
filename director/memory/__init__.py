"""What a run remembers: the event log and the run folders."""
