"""Outbound network safety: which addresses the service may connect to, and connecting to
exactly the address that was checked."""
