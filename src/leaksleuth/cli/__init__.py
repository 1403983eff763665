"""The command line: thin commands over collect/analysis/report.

Exit codes, shared by every command: 0 when nothing reached ``--fail-on``; 1 when a suspect did; 2 on bad usage or
configuration; 3 when the job could not be done (unreadable input, nothing reachable) — distinct from 1 so a CI
gate never mistakes "could not look" for a leak.
"""

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
