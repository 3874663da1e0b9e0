"""Generated protocol buffer stubs."""
