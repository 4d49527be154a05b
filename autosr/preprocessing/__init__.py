"""AutoSR preprocessing."""
