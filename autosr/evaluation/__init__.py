"""AutoSR evaluation."""
