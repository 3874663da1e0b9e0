"""Generated stubs of the avatar.gateway.v1 proto package."""
