"""Heap analysis: top/diff like pprof, allocation sites and kinds, leak paths, trends, fleet outliers, flame graphs."""
