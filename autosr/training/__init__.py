"""AutoSR training."""
