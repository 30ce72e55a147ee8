"""The agent loop: yields typed events."""
