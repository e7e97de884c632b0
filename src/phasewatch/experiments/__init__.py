"""Built-in experiments, one TOML preset each (data, not code)."""
