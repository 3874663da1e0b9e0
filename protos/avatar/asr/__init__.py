"""Generated stubs of the avatar.asr.v1 proto package."""
