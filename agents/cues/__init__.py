"""The cues stage."""
