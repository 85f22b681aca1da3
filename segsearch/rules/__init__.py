"""Segment rules: the field catalogue, validation, the (pure) ES compiler, templates.

fields.catalogue() -> validation.validate_rule() -> compiler.compile_rule().
"""
