"""Pure record transformations. Nothing in this package imports boto3 or does I/O."""
