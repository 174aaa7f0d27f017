"""diarize: who speaks when, per decoded audio window (pyannote.audio, the 'speakers' extra)."""
