"""Tests of the asset scripts under scripts/ (imported from there, not from the package)."""
