"""What every package's tables share: UTC timestamps and one naming convention for constraints."""
