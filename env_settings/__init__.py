"""Settings read from environment variables, for the functions, the bootstrap and the embedded
backend alike: one error type and one-line messages. Pure (standard library only) and zipped with
the functions."""
