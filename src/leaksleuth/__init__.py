"""leaksleuth: find goroutine and heap leaks in Go services, from one process to a fleet."""

__version__ = "0.1.0"
