"""Goroutine analysis: buckets, states, signatures, the verdict, diffs."""
