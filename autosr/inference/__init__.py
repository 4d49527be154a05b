"""AutoSR inference."""
