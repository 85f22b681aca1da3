"""Bearer tokens and the contract's roles."""
