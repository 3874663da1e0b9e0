"""The enhancer service: restores and sharpens frames for "high" quality."""
