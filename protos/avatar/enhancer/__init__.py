"""Generated stubs of the avatar.enhancer.v1 proto package."""
