"""Use-cases: the only layer that wires I/O (collect, store, integrations) to analysis. Clock injected."""
