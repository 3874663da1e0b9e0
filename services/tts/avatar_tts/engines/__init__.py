"""Speech engines behind one interface (:class:`~avatar_tts.engines.base.TtsEngine`), free of
any gRPC code: the interface and its errors in ``base``, one module per engine."""
