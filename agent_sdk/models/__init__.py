"""Model architectures, presets and checkpoint loading."""
