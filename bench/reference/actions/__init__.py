"""Custom actions of the reference assistant (bench/reference)."""
