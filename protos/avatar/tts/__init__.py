"""Generated stubs of the avatar.tts.v1 proto package."""
