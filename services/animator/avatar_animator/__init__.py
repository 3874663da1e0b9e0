"""The animator service: a face photo plus speech in, lip-synced video frames out."""
