"""Segments: preview now; stored segments and membership come with the engine."""
