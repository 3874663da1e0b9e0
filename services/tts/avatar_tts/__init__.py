"""The tts service: text in, speech audio and a phoneme/word timing track out."""
