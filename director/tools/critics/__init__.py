"""Critics: score a candidate frame; each check records score, threshold, pass/fail and why."""
