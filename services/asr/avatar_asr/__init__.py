"""The asr service: speech audio in, voice activity and transcripts with word times out."""
