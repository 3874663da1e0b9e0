"""Training GlowTTS voices with coqui's Trainer on LJSpeech-format datasets."""
