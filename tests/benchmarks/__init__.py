"""Tests that keep the benchmark scripts working (their figures are not asserted: they are measurements)."""
