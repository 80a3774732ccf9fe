"""What every package shares: UTC timestamps, one naming convention for constraints, the
languages, and the real-time event plumbing."""
