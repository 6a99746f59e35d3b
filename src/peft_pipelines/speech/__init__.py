"""Speech data handling shared by the Whisper pipelines (corpus reading, audio, features)."""
