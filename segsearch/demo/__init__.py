"""Deterministic demo data for segsearch (see :mod:`segsearch.demo.generator`)."""
