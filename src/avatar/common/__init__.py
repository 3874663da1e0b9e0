"""Generated stubs of the avatar.common.v1 package."""
