"""The RQ side: thin job functions and the worker / scheduler entry points."""
