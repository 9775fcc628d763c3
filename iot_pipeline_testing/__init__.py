"""Tools to use the pipeline from outside: a pytest plugin (`iot_stack` and the waits a test
needs, see `plugin`), and the AWS CLI v1 plugin behind `make env` (`awscli_endpoint`)."""

from iot_pipeline_testing.stack import (
    ArchivedItem,
    DeadLetter,
    HistoryPoint,
    IotStack,
    Reading,
    SendError,
    wait_for,
)

__all__ = ["ArchivedItem", "DeadLetter", "HistoryPoint", "IotStack", "Reading", "SendError", "wait_for"]
