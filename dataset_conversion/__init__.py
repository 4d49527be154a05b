"""Converters from public dataset layouts and generic folders to the AutoSR dataset format."""
