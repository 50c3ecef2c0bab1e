"""A finished run, measured: identity, prompt alignment, style, technical quality, effort and
the generated share, read from the run folder and written as ``evaluation.json`` and a report
(``director evaluate``). A metric whose model is absent is reported as not measured, with why."""
