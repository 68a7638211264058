"""Server fixtures (filled in below)."""
