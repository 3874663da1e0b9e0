"""Code shared by every server: bootstrap, configuration, metrics and media helpers."""
