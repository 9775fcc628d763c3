"""The pipeline's shared vocabulary: the DeviceData table's schema, what becomes of a device's
message, and how expired items are archived.

Pure values (standard library only), zipped with the functions, so the handlers, the bootstrap
that declares the stack and the simulator that predicts what the pipeline makes of its messages
all read the same definitions.
"""
