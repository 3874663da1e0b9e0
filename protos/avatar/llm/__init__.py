"""Generated stubs of the avatar.llm.v1 proto package."""
