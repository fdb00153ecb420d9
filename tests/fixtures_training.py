"""Session fixtures made by training/: real facesets extracted from the pc-avs clips, a tiny trained checkpoint."""
