"""Generated stubs and code of the avatar.enhancer.v1 package."""
