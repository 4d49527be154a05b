"""AutoSR networks."""
