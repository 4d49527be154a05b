"""Experiment planners: classes that turn a dataset fingerprint into plans (picked by class name)."""
