"""Generated stubs and code of the avatar.animator.v1 package."""
