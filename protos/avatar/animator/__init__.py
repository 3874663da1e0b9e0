"""Generated stubs of the avatar.animator.v1 proto package."""
