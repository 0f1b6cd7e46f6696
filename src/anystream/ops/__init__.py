"""The operator catalogue, one module per family (create, transform, select, ...)."""
