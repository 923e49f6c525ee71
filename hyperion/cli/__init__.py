"""Command-line entry points: thin argument parsing and rendering; nothing heavy at import."""
