"""Why `make env` names aws-cli.config: the AWS CLI v1 replaces the SQS endpoint with AWS's unless
one was given, whatever AWS_ENDPOINT_URL says; the plugin gives it first. Checked in process:
nothing is sent anywhere."""

import argparse

import botocore.session
from awscli.customizations.overridesslcommonname import update_endpoint_url
from botocore.hooks import HierarchicalEmitter

from iot_pipeline_testing.awscli_endpoint import EVENT, awscli_initialize

LOCAL = "http://127.0.0.1:4567"


def cli_globals(command="sqs", endpoint_url=None):
    return argparse.Namespace(command=command, endpoint_url=endpoint_url)


def session():
    made = botocore.session.get_session()
    made.set_config_variable("region", "us-east-1")
    return made


def test_without_the_plugin_the_cli_v1_sends_sqs_to_aws_whatever_aws_endpoint_url_says(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", LOCAL)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", LOCAL)
    parsed = cli_globals()
    update_endpoint_url(session(), parsed)
    assert parsed.endpoint_url == "https://queue.amazonaws.com"


def test_the_plugin_hands_the_cli_the_endpoint_before_its_override(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", LOCAL)
    emitter = HierarchicalEmitter()
    awscli_initialize(emitter)
    emitter.register_last(EVENT, update_endpoint_url)
    parsed = cli_globals()
    emitter.emit(f"{EVENT}.sqs.list-queues", session=session(), parsed_globals=parsed)
    assert parsed.endpoint_url == LOCAL


def test_a_service_specific_endpoint_wins_and_an_explicit_endpoint_url_is_left_alone(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", LOCAL)
    monkeypatch.setenv("AWS_ENDPOINT_URL_IOT_DATA", "http://127.0.0.1:9999")
    emitter = HierarchicalEmitter()
    awscli_initialize(emitter)
    iot_data = cli_globals("iot-data")
    emitter.emit(f"{EVENT}.iot-data.publish", session=session(), parsed_globals=iot_data)
    assert iot_data.endpoint_url == "http://127.0.0.1:9999"
    given = cli_globals(endpoint_url="http://127.0.0.1:1234")
    emitter.emit(f"{EVENT}.sqs.list-queues", session=session(), parsed_globals=given)
    assert given.endpoint_url == "http://127.0.0.1:1234"
