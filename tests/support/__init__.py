"""Helpers shared by the tests: tiny models, fake servers, stacks."""
