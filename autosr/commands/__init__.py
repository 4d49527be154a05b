"""Console scripts: thin argument parsers over the Python API (one module per stage)."""
