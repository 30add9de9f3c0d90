"""mottrack_training: CSTrack / CSTrack-S networks and their training (PyTorch)."""
