"""Contract of the IoT patches, in process: MiniStack's broker, rules engine and SQS as the
embedded backend runs them, driven with MQTT packets and ASGI WebSocket scopes."""

import asyncio
import base64
import importlib
import json
import struct
from urllib.parse import urlencode

import pytest

from emulator.ministack import iot as iot_patches
from emulator.ministack import ttl
from emulator.ministack.registry import PatchRegistry

ACCOUNT, REGION = "000000000000", "us-east-1"
SENSOR_RULE_SQL = "SELECT * FROM '+/SENSOR/DAT'"
MQTT_311, MQTT_5 = 4, 5


@pytest.fixture
def ministack():
    """MiniStack's app, IoT and SQS modules with the IoT patches applied, emptied before and after."""
    ttl.import_dynamodb()
    modules = {name: importlib.import_module(f"ministack.{name}") for name in ("app", "services.iot", "services.sqs")}
    iot, sqs = modules["services.iot"], modules["services.sqs"]
    iot.reset(), sqs.reset(), asyncio.run(iot.broker_stop())
    registry = PatchRegistry()
    for patch in (iot_patches.MQTT_ON_LOOPBACK_HOST, iot_patches.PUBLISH_LIMITS, iot_patches.PAYLOAD_AS_PUBLISHED):
        registry.apply(patch)
    yield modules
    registry.undo()
    iot.reset(), sqs.reset(), asyncio.run(iot.broker_stop())


def string(text):
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_body(client_id, version=MQTT_311):
    properties = b"\x00" if version == MQTT_5 else b""
    return string("MQTT") + bytes((version, 0x02)) + struct.pack("!H", 30) + properties + string(client_id)


def publish(topic, payload, qos=1, packet_id=7, version=MQTT_311):
    """(flags, body) of a PUBLISH."""
    body = string(topic) + (struct.pack("!H", packet_id) if qos else b"") + (b"\x00" if version == MQTT_5 else b"")
    return qos << 1, body + payload


def frame(packet_type, flags, body):
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes((packet_type << 4 | flags, *encoded)) + body


class Device:
    """One MQTT session of the broker, fed packets directly; what it sends back is kept."""

    def __init__(self, iot, client_id, version=MQTT_311):
        self.sent = []
        self.session = iot._WSSession(self._send, ACCOUNT, REGION)
        assert self.handle(1, 0, connect_body(client_id, version))

    async def _send(self, message):
        self.sent.append(message)

    def handle(self, packet_type, flags, body):
        return asyncio.run(self.session.handle_packet(packet_type, flags, body))

    def publish(self, topic, payload, **options):
        return self.handle(3, *publish(topic, payload, **options))

    def packets(self):
        return [m["bytes"] for m in self.sent if m["type"] == "websocket.send"]


def make_queue(sqs, name, **attributes):
    headers = {"x-amz-target": "AmazonSQS.CreateQueue", "host": "localhost:4566"}
    body = json.dumps({"QueueName": name, "Attributes": attributes}).encode()
    status, _headers, answer = asyncio.run(sqs.handle_request("POST", "/", headers, body, {}))
    assert status == 200, answer
    return json.loads(answer)["QueueUrl"]


def bodies(sqs, url):
    return [message["body"] for message in sqs._get_q(url)["messages"]]


def sensor_rule(iot, sqs, sql=SENSOR_RULE_SQL, use_base64=True, **queue_attributes):
    """The stack's rule on two fresh queues: (ingest queue URL, errors queue URL)."""
    ingest, errors = make_queue(sqs, "ingest", **queue_attributes), make_queue(sqs, "errors")
    role = f"arn:aws:iam::{ACCOUNT}:role/rule"
    iot.put_topic_rule(
        "sensor_to_sqs",
        {
            "sql": sql,
            "actions": [{"sqs": {"queueUrl": ingest, "roleArn": role, "useBase64": use_base64}}],
            "errorAction": {"sqs": {"queueUrl": errors, "roleArn": role, "useBase64": False}},
        },
    )
    return ingest, errors


def websocket_upgrade(app, host):
    """What the server sends for an MQTT WebSocket upgrade to `host`, which then sends CONNECT."""
    scope = {
        "type": "websocket",
        "path": "/mqtt",
        "query_string": b"",
        "headers": [(b"host", host.encode()), (b"sec-websocket-protocol", b"mqtt")],
    }
    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "bytes": frame(1, 0, connect_body("dev-0001"))},
        {"type": "websocket.disconnect"},
    ]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


@pytest.mark.parametrize(
    "host", ["127.0.0.1:4566", "localhost:45123", "[::1]:4566", "abc.iot.us-east-1.localhost:4566"]
)
def test_an_mqtt_websocket_upgrade_to_a_loopback_host_reaches_the_broker(ministack, host):
    sent = websocket_upgrade(ministack["app"].app, host)
    assert sent[0]["type"] == "websocket.accept" and sent[0]["subprotocol"] == "mqtt"
    assert sent[1] == {"type": "websocket.send", "bytes": b"\x20\x02\x00\x00"}  # CONNACK, accepted


def test_an_upgrade_to_a_host_neither_loopback_nor_iot_shaped_is_still_refused(ministack):
    sent = websocket_upgrade(ministack["app"].app, "dashboard.example.com:4566")
    assert [message["type"] for message in sent] == ["websocket.close"]


def test_without_the_patch_a_loopback_host_was_refused():
    ttl.import_dynamodb()
    app = importlib.import_module("ministack.app")
    assert [m["type"] for m in websocket_upgrade(app.app, "127.0.0.1:4566")] == ["websocket.close"]


def test_select_star_forwards_a_json_payload_byte_for_byte_as_base64(ministack):
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    ingest, errors = sensor_rule(iot, sqs)
    payload = b'{"things_name":"dev-0001","timestamp":1700000000, "data":{"temperature":21.50}}'
    assert Device(iot, "dev-0001").publish("dev-0001/SENSOR/DAT", payload)
    assert [base64.b64decode(body) for body in bodies(sqs, ingest)] == [payload]
    assert bodies(sqs, errors) == []


def test_the_topic_filter_takes_one_level_before_sensor_dat_and_nothing_else(ministack):
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    ingest, _errors = sensor_rule(iot, sqs)
    device = Device(iot, "dev-0001")
    for topic in (
        "dev-0001/SENSOR/DAT",
        "a/b/SENSOR/DAT",
        "dev-0001/SENSOR/DAT/x",
        "dev-0001/sensor/dat",
        "SENSOR/DAT",
    ):
        assert device.publish(topic, topic.encode())
    assert [base64.b64decode(body) for body in bodies(sqs, ingest)] == [b"dev-0001/SENSOR/DAT"]


def test_a_multi_level_wildcard_rule_takes_every_topic(ministack):
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    ingest, _errors = sensor_rule(iot, sqs, sql="SELECT * FROM '#'")
    device = Device(iot, "dev-0001")
    for topic in ("dev-0001/SENSOR/DAT", "a/b/c"):
        assert device.publish(topic, b"{}")
    assert len(bodies(sqs, ingest)) == 2


def test_a_payload_that_is_not_json_is_forwarded_unchanged(ministack):
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    ingest, errors = sensor_rule(iot, sqs)
    device = Device(iot, "dev-0001")
    for payload in (b"hello device", b"\xff\xfe{}", b'{"a": 1.50}', b"[1, 2.0]", b"42.0", b'"dev-0001"'):
        assert device.publish("dev-0001/SENSOR/DAT", payload)
    assert [base64.b64decode(body) for body in bodies(sqs, ingest)] == [
        b"hello device",
        b"\xff\xfe{}",
        b'{"a": 1.50}',
        b"[1, 2.0]",
        b"42.0",
        b'"dev-0001"',
    ]
    assert bodies(sqs, errors) == []


def test_an_empty_payload_cannot_be_an_sqs_message_and_goes_to_the_error_action(ministack):
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    ingest, errors = sensor_rule(iot, sqs)
    assert Device(iot, "dev-0001").publish("dev-0001/SENSOR/DAT", b"")
    assert bodies(sqs, ingest) == []
    (document,) = [json.loads(body) for body in bodies(sqs, errors)]
    assert "MessageBody" in document["failures"][0]["errorMessage"]


def test_a_binary_payload_without_use_base64_goes_to_the_error_action_with_the_reason(ministack):
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    ingest, errors = sensor_rule(iot, sqs, use_base64=False)
    assert Device(iot, "dev-0001").publish("dev-0001/SENSOR/DAT", b"\xff\xfe")
    assert bodies(sqs, ingest) == []
    (document,) = [json.loads(body) for body in bodies(sqs, errors)]
    assert document["ruleName"] == "sensor_to_sqs" and document["clientId"] == "dev-0001"
    assert base64.b64decode(document["base64OriginalPayload"]) == b"\xff\xfe"
    (failure,) = document["failures"]
    assert failure["failedAction"] == "SqsAction" and failure["failedResource"] == ingest
    assert "InvalidMessageContents" in failure["errorMessage"]


def test_a_failed_sqs_send_parks_the_message_on_the_error_queue_with_the_reason(ministack):
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    ingest, errors = sensor_rule(iot, sqs, MaximumMessageSize="1024")
    payload = json.dumps({"things_name": "dev-0001", "blob": "x" * 2000}).encode()
    assert Device(iot, "dev-0001").publish("dev-0001/SENSOR/DAT", payload)
    assert bodies(sqs, ingest) == []
    (document,) = [json.loads(body) for body in bodies(sqs, errors)]
    assert document["topic"] == "dev-0001/SENSOR/DAT"
    assert base64.b64decode(document["base64OriginalPayload"]) == payload
    assert "Message must be shorter than 1024 bytes" in document["failures"][0]["errorMessage"]


def test_qos_1_is_acknowledged_and_qos_0_is_not(ministack):
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    ingest, _errors = sensor_rule(iot, sqs)
    device = Device(iot, "dev-0001")
    assert device.publish("dev-0001/SENSOR/DAT", b"{}", qos=0)
    assert device.publish("dev-0001/SENSOR/DAT", b"{}", qos=1, packet_id=9)
    assert device.packets()[1:] == [b"\x40\x02\x00\x09"]  # after CONNACK: one PUBACK, for packet 9
    assert len(bodies(sqs, ingest)) == 2


@pytest.mark.parametrize(("version", "disconnect"), [(MQTT_311, []), (MQTT_5, [b"\xe0\x01\x9b"])])
def test_a_qos_2_publish_closes_the_connection_undelivered(ministack, version, disconnect):
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    ingest, _errors = sensor_rule(iot, sqs)
    device = Device(iot, "dev-0001", version)
    assert device.publish("dev-0001/SENSOR/DAT", b"{}", qos=2, version=version) is False
    assert device.packets()[1:] == disconnect
    assert device.session.disconnect_reason() == "CLIENT_ERROR"
    assert bodies(sqs, ingest) == []


@pytest.mark.parametrize(("version", "disconnect"), [(MQTT_311, []), (MQTT_5, [b"\xe0\x01\x95"])])
def test_a_payload_over_128_kb_closes_the_connection_undelivered_and_one_of_128_kb_is_delivered(
    ministack, version, disconnect
):
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    ingest, _errors = sensor_rule(iot, sqs)
    device = Device(iot, "dev-0001", version)
    assert device.publish("dev-0001/SENSOR/DAT", b"x" * (128 * 1024), version=version)
    assert device.publish("dev-0001/SENSOR/DAT", b"x" * (128 * 1024 + 1), version=version) is False
    assert device.packets()[2:] == disconnect
    assert device.session.disconnect_reason() == "CLIENT_ERROR"
    assert [len(base64.b64decode(body)) for body in bodies(sqs, ingest)] == [128 * 1024]


def test_an_https_publish_over_128_kb_is_refused_with_413(ministack):
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    ingest, _errors = sensor_rule(iot, sqs)
    iot_data = importlib.import_module("ministack.services.iot_data")

    def publish_over_https(size):
        return asyncio.run(iot_data.handle_request("POST", "/topics/dev-0001/SENSOR/DAT", {}, b"x" * size, {}))

    status, _headers, body = publish_over_https(128 * 1024 + 1)
    assert status == 413 and json.loads(body)["__type"].endswith("RequestEntityTooLargeException")
    assert publish_over_https(128 * 1024)[0] == 200
    assert len(bodies(sqs, ingest)) == 1


def test_a_second_connection_with_the_same_client_id_disconnects_the_first(ministack):
    iot = ministack["services.iot"]
    first = Device(iot, "dev-0001")
    Device(iot, "dev-0001")
    assert {"type": "websocket.close", "code": 1000} in first.sent
    assert first.session.disconnect_reason() == "DUPLICATE_CLIENTID"
    assert Device(iot, "dev-0002").session.disconnect_reason() == "CONNECTION_LOST"  # a session still up


@pytest.mark.parametrize(
    ("flags_body", "refused"),
    [
        (publish("t", b"x" * 10, qos=0), None),
        (publish("t", b"x" * (128 * 1024 + 1), qos=0), 0x95),
        (publish("t", b"", qos=2), 0x9B),
        ((1 << 1, b"\x00"), None),  # truncated: MiniStack's own parser answers it
    ],
)
def test_publish_refusal_reads_the_qos_and_the_payload_size(flags_body, refused):
    answer = iot_patches.publish_refusal(*flags_body, protocol_version=MQTT_311)
    assert (answer[1] if answer else None) == refused


def test_json_nested_past_the_parsers_depth_is_forwarded_as_text_and_the_connection_stays(ministack):
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    ingest, _errors = sensor_rule(iot, sqs)
    device = Device(iot, "dev-0001")
    payload = b"[" * 10_000 + b"]" * 10_000
    assert device.publish("dev-0001/SENSOR/DAT", payload)
    assert device.publish("dev-0001/SENSOR/DAT", b"{}", packet_id=8)
    assert [base64.b64decode(body) for body in bodies(sqs, ingest)] == [payload, b"{}"]


def iam_call(action, **params):
    iam = importlib.import_module("ministack.services.iam")
    body = urlencode({"Action": action, "Version": "2010-05-08", **params}).encode()
    headers = {"content-type": "application/x-www-form-urlencoded", "host": "localhost:4566"}
    status, _headers, answer = asyncio.run(iam.handle_request("POST", "/", headers, body, {}))
    assert status == 200, answer


@pytest.fixture
def enforced(ministack):
    """The stack's two rule roles in IAM, the role patch applied: (iot, sqs, ingest URL, errors URL)."""
    iot, sqs = ministack["services.iot"], ministack["services.sqs"]
    iam = importlib.import_module("ministack.services.iam")
    iam.reset()
    registry = PatchRegistry()
    registry.apply(iot_patches.RULE_ROLE_ENFORCED)
    ingest, errors = make_queue(sqs, "ingest"), make_queue(sqs, "errors")
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    for role, queue in (("rule", "ingest"), ("rule-errors", "errors")):
        iam_call("CreateRole", RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
        allow = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"}
        iam_call("PutRolePolicy", RoleName=role, PolicyName="p", PolicyDocument=json.dumps({"Statement": [allow]}))
    yield iot, sqs, ingest, errors
    registry.undo()
    iam.reset()


def rule_as(iot, ingest, errors, role="rule", error_role="rule-errors"):
    def send_to(url, name, use_base64):
        return {"sqs": {"queueUrl": url, "roleArn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "useBase64": use_base64}}

    iot.put_topic_rule(
        "sensor_to_sqs",
        {
            "sql": SENSOR_RULE_SQL,
            "actions": [send_to(ingest, role, True)],
            "errorAction": send_to(errors, error_role, False),
        },
    )


def test_the_rules_sqs_action_sends_as_a_role_that_may(enforced):
    iot, sqs, ingest, errors = enforced
    rule_as(iot, ingest, errors)
    assert Device(iot, "dev-0001").publish("dev-0001/SENSOR/DAT", b"{}")
    assert [base64.b64decode(body) for body in bodies(sqs, ingest)] == [b"{}"]
    assert bodies(sqs, errors) == []


@pytest.mark.parametrize(
    ("role", "reason"),
    [
        ("rule-errors", "is not allowed sqs:SendMessage on arn:aws:sqs:us-east-1:000000000000:ingest"),
        ("nobody", "Unable to assume role"),
    ],
)
def test_a_role_that_may_not_send_to_the_queue_sends_nothing_and_the_error_action_says_why(enforced, role, reason):
    iot, sqs, ingest, errors = enforced
    rule_as(iot, ingest, errors, role=role)
    assert Device(iot, "dev-0001").publish("dev-0001/SENSOR/DAT", b"{}")
    assert bodies(sqs, ingest) == []
    (document,) = [json.loads(body) for body in bodies(sqs, errors)]
    assert reason in document["failures"][0]["errorMessage"]


def test_a_role_that_does_not_trust_iot_cannot_be_assumed(enforced):
    iot, sqs, ingest, errors = enforced
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    iam_call("UpdateAssumeRolePolicy", RoleName="rule", PolicyDocument=json.dumps(trust))
    rule_as(iot, ingest, errors)
    assert Device(iot, "dev-0001").publish("dev-0001/SENSOR/DAT", b"{}")
    (document,) = [json.loads(body) for body in bodies(sqs, errors)]
    assert "does not name iot.amazonaws.com" in document["failures"][0]["errorMessage"]


def test_a_queue_policy_that_denies_the_role_stops_the_send(enforced):
    iot, sqs, ingest, errors = enforced
    deny = {
        "Effect": "Deny",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/rule"},
        "Action": "sqs:SendMessage",
        "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:ingest",
    }
    sqs._get_q(ingest)["attributes"]["Policy"] = json.dumps({"Statement": [deny]})
    rule_as(iot, ingest, errors)
    assert Device(iot, "dev-0001").publish("dev-0001/SENSOR/DAT", b"{}")
    assert bodies(sqs, ingest) == []
    (document,) = [json.loads(body) for body in bodies(sqs, errors)]
    assert "denies sqs:SendMessage" in document["failures"][0]["errorMessage"]


def test_an_error_action_whose_role_may_not_send_parks_nothing(enforced):
    iot, sqs, ingest, errors = enforced
    rule_as(iot, ingest, errors, role="nobody", error_role="rule")
    assert Device(iot, "dev-0001").publish("dev-0001/SENSOR/DAT", b"{}")
    assert bodies(sqs, ingest) == [] and bodies(sqs, errors) == []


def error_reasons(sqs, errors):
    return [json.loads(body)["failures"][0]["errorMessage"] for body in bodies(sqs, errors)]


def reason_after_a_change(enforced, change):
    """Publishes, makes `change`, publishes again: the second message must be refused, the first
    delivered; returns why the error action says it was refused."""
    iot, sqs, ingest, errors = enforced
    rule_as(iot, ingest, errors)
    device = Device(iot, "dev-0001")
    assert device.publish("dev-0001/SENSOR/DAT", b"{}")
    change()
    assert device.publish("dev-0001/SENSOR/DAT", b"{}", packet_id=8)
    assert len(bodies(sqs, ingest)) == 1
    (reason,) = error_reasons(sqs, errors)
    return reason


def test_a_role_policy_removed_after_a_send_refuses_the_next_message(enforced):
    reason = reason_after_a_change(enforced, lambda: iam_call("DeleteRolePolicy", RoleName="rule", PolicyName="p"))
    assert "is not allowed sqs:SendMessage" in reason


def test_a_queue_policy_set_after_a_send_that_denies_the_role_refuses_the_next_message(enforced):
    _iot, sqs, ingest, _errors = enforced
    deny = {"Effect": "Deny", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}

    def deny_all() -> None:
        sqs._get_q(ingest)["attributes"]["Policy"] = json.dumps({"Statement": [deny]})

    assert "denies sqs:SendMessage" in reason_after_a_change(enforced, deny_all)


def test_a_managed_policys_new_default_version_is_judged_at_the_next_message(enforced):
    iam_call("DeleteRolePolicy", RoleName="rule", PolicyName="p")
    allow = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}
    iam_call("CreatePolicy", PolicyName="send", PolicyDocument=json.dumps({"Statement": [allow]}))
    policy_arn = f"arn:aws:iam::{ACCOUNT}:policy/send"
    iam_call("AttachRolePolicy", RoleName="rule", PolicyArn=policy_arn)
    elsewhere = {**allow, "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:elsewhere"}
    document = json.dumps({"Statement": [elsewhere]})

    def narrow() -> None:
        iam_call("CreatePolicyVersion", PolicyArn=policy_arn, PolicyDocument=document, SetAsDefault="true")

    assert "is not allowed sqs:SendMessage" in reason_after_a_change(enforced, narrow)


def test_a_decision_is_judged_once_while_nothing_it_rests_on_changes(enforced, monkeypatch):
    iot, sqs, ingest, errors = enforced
    rule_as(iot, ingest, errors)
    judged = []
    judge = iot_patches._judged_refusal
    monkeypatch.setattr(iot_patches, "_judged_refusal", lambda *args: judged.append(args) or judge(*args))
    device = Device(iot, "dev-0001")
    for packet_id in range(7, 10):
        assert device.publish("dev-0001/SENSOR/DAT", b"{}", packet_id=packet_id)
    assert len(bodies(sqs, ingest)) == 3
    assert len(judged) == 1
