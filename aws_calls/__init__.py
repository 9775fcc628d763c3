"""How this project calls AWS, shared by the functions, the embedded backend's data plane, the
simulator and the tooling: calls split to the APIs' limits and partial failures retried
(`batching`, pure), which errors are worth retrying (`errors`), and local sessions (`sessions`).

Zipped with the functions, so it depends on nothing of the project's.
"""
