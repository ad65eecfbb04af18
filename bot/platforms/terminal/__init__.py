"""terminal adapter."""
