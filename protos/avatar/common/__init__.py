"""Generated stubs of the avatar.common.v1 proto package."""
