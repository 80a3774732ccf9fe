"""Developer tools run by hand or by make: screenshots of a live desk, its accessibility check."""
