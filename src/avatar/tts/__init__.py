"""Generated stubs and code of the avatar.tts.v1 package."""
