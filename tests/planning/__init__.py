"""Tests of fingerprinting, planning and preprocessing (issue 3)."""
