"""The transcribe stage."""
