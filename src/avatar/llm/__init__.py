"""Generated stubs and code of the avatar.llm.v1 package."""
