"""Devices as they are: clients nobody here wrote (paho-mqtt, the AWS IoT Device SDK v2, the AWS
CLI) publish through the embedded IoT Core, given nothing but the stack's outputs, and bad input
ends as AWS IoT Core would end it."""

import base64
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest

from device_data.messages import sensor_topic
from iot_pipeline_testing import wait_for

pytestmark = pytest.mark.integration

AWS_CLI = Path(sys.executable).with_name("aws")


@pytest.fixture(scope="module")
def stack(device_stack):
    return device_stack("dev")


def reading(device: str, **data) -> bytes:
    return json.dumps({"things_name": device, "timestamp": int(time.time() * 1000), "data": data or {"t": 1}}).encode()


def stored(stack, device: str) -> list[dict]:
    return stack.client("dynamodb").query(
        TableName=stack.outputs["table"],
        KeyConditionExpression="deviceID = :d",
        ExpressionAttributeValues={":d": {"S": device}},
    )["Items"]


def wait_stored(stack, device: str, count: int = 1) -> list[dict]:
    return wait_for(lambda: len(items := stored(stack, device)) >= count and items, message=f"{device} in the table")


class Paho:
    """A stock paho-mqtt client on its own network thread, given only the outputs' endpoint URL."""

    def __init__(self, endpoint: str, client_id: str, headers: dict | None = None):
        url = urlsplit(endpoint)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, transport="websockets")
        self.client.ws_set_options(path=url.path, headers=headers)
        self.connected, self.disconnected = threading.Event(), threading.Event()
        self.client.on_connect = lambda *_: self.connected.set()
        self.client.on_disconnect = lambda *_: self.disconnected.set()
        self.client.connect(url.hostname, url.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(10), f"{client_id} did not connect"

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=qos)
        if qos:
            info.wait_for_publish(10)
        return info

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def paho(stack):
    opened = []

    def connect(client_id, **options):
        opened.append(Paho(stack.outputs["iot_endpoint"], client_id, **options))
        return opened[-1]

    yield connect
    for client in opened:
        client.close()


def test_paho_given_only_the_endpoint_url_publishes_a_reading_that_lands_in_the_table(stack, paho):
    assert stack.outputs["iot_endpoint"] == f"ws://127.0.0.1:{urlsplit(stack.endpoint).port}/mqtt"
    device = paho("paho-dev-1")
    for temperature in (20.5, 21.0):
        assert device.publish(sensor_topic("paho-dev-1"), reading("paho-dev-1", temperature=temperature)).is_published()
    items = wait_stored(stack, "paho-dev-1", 2)
    assert {item["temperature"]["N"] for item in items} == {"20.5", "21"}
    assert {item["sensorID"]["S"] for item in items} == {"paho-dev-1-sen"}


def test_the_aws_iot_device_sdk_over_websocket_publishes_a_reading_that_lands_in_the_table(stack):
    from awscrt import auth, io
    from awscrt import mqtt as crt_mqtt

    url = urlsplit(stack.outputs["iot_endpoint"])
    credentials = auth.AwsCredentialsProvider.new_static("test", "test")

    def sign(transform_args, **_kwargs):
        # The SDK's own SigV4 presigning of the upgrade, as websockets_with_default_aws_signing
        # does; the builder itself insists on TLS, which a local endpoint does not speak.
        config = auth.AwsSigningConfig(
            algorithm=auth.AwsSigningAlgorithm.V4,
            signature_type=auth.AwsSignatureType.HTTP_REQUEST_QUERY_PARAMS,
            credentials_provider=credentials,
            region="us-east-1",
            service="iotdevicegateway",
            omit_session_token=True,
        )
        signing = auth.aws_sign_request(transform_args.http_request, config)
        signing.add_done_callback(lambda done: transform_args.set_done(done.exception()))

    loop_group = io.EventLoopGroup(1)
    bootstrap = io.ClientBootstrap(loop_group, io.DefaultHostResolver(loop_group))
    connection = crt_mqtt.Connection(
        client=crt_mqtt.Client(bootstrap, None),
        host_name=url.hostname,
        port=url.port,
        client_id="sdk-dev-1",
        keep_alive_secs=30,
        use_websockets=True,
        websocket_handshake_transform=sign,
    )
    connection.connect().result(10)
    try:
        published, _packet_id = connection.publish(
            sensor_topic("sdk-dev-1"), reading("sdk-dev-1", humidity=41.5), crt_mqtt.QoS.AT_LEAST_ONCE
        )
        published.result(10)
    finally:
        connection.disconnect().result(10)
    assert wait_stored(stack, "sdk-dev-1")[0]["humidity"]["N"] == "41.5"


def test_aws_cli_iot_data_publish_lands_a_reading_in_the_table(stack):
    subprocess.run(
        [
            str(AWS_CLI),
            "--endpoint-url",
            stack.endpoint,
            "iot-data",
            "publish",
            "--topic",
            sensor_topic("cli-dev-1"),
            "--qos",
            "1",
            "--payload",
            reading("cli-dev-1", battery=3.9).decode(),
        ],
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        timeout=60,
    )
    assert wait_stored(stack, "cli-dev-1")[0]["battery"]["N"] == "3.9"


def dead_lettered(stack, wanted: int) -> list[dict]:
    parked = []
    wait_for(
        lambda: parked.extend(stack.drain(stack.outputs["dlq_url"])) or len(parked) >= wanted,
        message=f"{wanted} dead-lettered messages",
    )
    return parked


def test_a_payload_that_is_not_json_reaches_the_dead_letter_queue_with_the_reason(stack, paho):
    device = paho("bad-dev-1")
    device.publish(sensor_topic("bad-dev-1"), b"temperature=21.5")
    device.publish(sensor_topic("bad-dev-1"), b"\xff\xfe\x00binary")
    parked = dead_lettered(stack, 2)
    codes = {base64.b64decode(m["Body"]): m["MessageAttributes"]["error_code"]["StringValue"] for m in parked}
    assert codes == {b"temperature=21.5": "not_json", b"\xff\xfe\x00binary": "not_utf8"}


def test_a_message_over_128_kb_is_refused_by_closing_the_connection_and_never_reaches_the_queue(stack, paho):
    device = paho("big-dev-1")
    device.client.reconnect_delay_set(60, 60)  # no second try within the test
    oversized = reading("big-dev-1", blob="x" * (128 * 1024))
    device.client.publish(sensor_topic("big-dev-1"), oversized, qos=1)
    assert device.disconnected.wait(10), "the broker kept the connection"
    marker = paho("big-dev-2")
    marker.publish(sensor_topic("big-dev-2"), reading("big-dev-2"))
    wait_stored(stack, "big-dev-2")
    assert stored(stack, "big-dev-1") == []


def test_an_empty_payload_is_parked_on_the_iot_errors_queue_with_the_reason(stack, paho):
    paho("empty-dev-1").publish(sensor_topic("empty-dev-1"), b"")
    parked = wait_for(lambda: stack.drain(stack.outputs["iot_errors_queue_url"]), message="the rule's error document")
    (document,) = [json.loads(message["Body"]) for message in parked]
    assert document["ruleName"] == stack.outputs["iot_topic_rule"] and document["clientId"] == "empty-dev-1"
    assert document["topic"] == "empty-dev-1/SENSOR/DAT" and document["base64OriginalPayload"] == ""
    (failure,) = document["failures"]
    assert failure["failedAction"] == "SqsAction" and failure["failedResource"] == stack.outputs["queue_url"]
    assert "MessageBody" in failure["errorMessage"]


def test_a_topic_outside_the_rules_filter_reaches_nothing(stack, paho):
    device = paho("stray-dev-1")
    for topic in ("stray-dev-1/SENSOR/RAW", "site/stray-dev-1/SENSOR/DAT", "stray-dev-1/sensor/dat"):
        device.publish(topic, reading("stray-dev-1"))
    # Then one on the filter: once it is stored, the ones before it were through the rules engine.
    device.publish(sensor_topic("stray-dev-1"), reading("stray-dev-1", marker=1))
    (item,) = wait_stored(stack, "stray-dev-1")
    assert item["marker"]["N"] == "1"


def test_the_embedded_broker_does_not_enforce_iot_policies_so_another_devices_topic_is_accepted(stack, paho):
    # On AWS the device policy (connect as your own thing, publish to your own topic) refuses this
    # publish and disconnects the client; the embedded broker evaluates no IoT policy without
    # certificates, so the reading is stored. The README says so.
    paho("dev-a").publish(sensor_topic("dev-b"), reading("dev-b"))
    assert wait_stored(stack, "dev-b")


def test_a_second_connection_with_the_same_client_id_disconnects_the_first(stack, paho):
    first = paho("twin-dev-1")
    first.client.reconnect_delay_set(60, 60)
    paho("twin-dev-1")
    assert first.disconnected.wait(10)


def test_the_loopback_guard_still_refuses_an_mqtt_upgrade_naming_another_host(stack):
    with pytest.raises(mqtt.WebsocketConnectionError):
        Paho(stack.outputs["iot_endpoint"], "rebound-dev-1", headers={"Host": "iot.example.com"})


def test_the_simulator_over_https_publishes_each_reading_through_the_rule(stack, monkeypatch, tmp_path):
    from simulator.__main__ import main as simulate

    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint)
    (tmp_path / "outputs.json").write_text(json.dumps(stack.outputs))
    report_path = tmp_path / "report.json"
    arguments = ["--via", "https", "--count", "30", "--rate", "200", "--devices", "3", "--staging-share", "0"]
    assert simulate([*arguments, "--outputs", str(tmp_path / "outputs.json"), "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["via"] == "https" and report["messages_sent"] == 30
    wanted = report["expected"]["readings"]["stored"]
    wait_for(
        lambda: sum(len(stored(stack, device)) for device in report["messages_per_device"]) == wanted,
        message=f"{wanted} readings published over HTTPS",
    )


def test_the_rule_sends_as_its_deployed_role_and_a_role_stripped_of_the_queue_parks_the_reading(stack, paho):
    from bootstrap.stack import AssumedBy, declare

    declared = declare(stack.config, "000000000000")
    role = declared.iam_role(AssumedBy.TOPIC_RULE).name
    iam = stack.client("iam")
    deployed = iam.get_role_policy(RoleName=role, PolicyName="least-privilege")["PolicyDocument"]
    wrong_queue = {
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": "arn:aws:sqs:us-east-1:000000000000:other",
    }
    iam.put_role_policy(
        RoleName=role, PolicyName="least-privilege", PolicyDocument=json.dumps({"Statement": [wrong_queue]})
    )
    device = paho("role-dev-1")
    try:
        device.publish(sensor_topic("role-dev-1"), reading("role-dev-1"))
        (parked,) = wait_for(lambda: stack.drain(stack.outputs["iot_errors_queue_url"]), message="the error document")
        (failure,) = json.loads(parked["Body"])["failures"]
        assert f"role/{role} is not allowed sqs:SendMessage on" in failure["errorMessage"]
    finally:
        iam.put_role_policy(RoleName=role, PolicyName="least-privilege", PolicyDocument=json.dumps(deployed))
    device.publish(sensor_topic("role-dev-1"), reading("role-dev-1"))
    assert wait_stored(stack, "role-dev-1")
