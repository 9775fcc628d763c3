"""IoT Core as devices meet it: MQTT over WebSocket at the address the outputs name, and the
broker's and rules engine's limits as AWS applies them.

- MiniStack takes an MQTT WebSocket upgrade only when its Host looks like
  `<prefix>.iot.<region>.<domain>`, so a stock client given `ws://127.0.0.1:<port>/mqtt` was
  refused. A loopback Host is now enough (the loopback guard in front refuses every other).
- AWS IoT Core has no QoS 2 and takes at most 128 KB of payload per message. MiniStack routed a
  QoS 2 PUBLISH to the rules (and never answered it) and took any size: such a PUBLISH now closes
  the connection undelivered (MQTT 5: DISCONNECT 0x9B or 0x95 first; the lifecycle reason
  CLIENT_ERROR), and an HTTPS Publish over the limit is answered 413.
- `SELECT *` forwards the payload unchanged. MiniStack parsed JSON and wrote it out again
  (`21.50` became `21.5`, a 20-digit fraction lost digits, spacing changed), and dispatched
  nothing for a payload that is not UTF-8, which AWS forwards as raw bytes (binary payloads). The
  SQS action with useBase64 sends those base64; without it SQS cannot take them, and the rule's
  error action hears of it. JSON nested past the parser's depth raised out of the broker and
  ended the device's connection (its client then sent it again, for ever); it reaches the rules
  as text.
- MiniStack took a rule's SQS role as given. Now the action (and the error action) sends only as
  its role may: the role exists and trusts iot.amazonaws.com, its policies allow sqs:SendMessage
  on the queue, and the queue's policy does not deny it; else the error action hears why.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import struct
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from device_data.messages import IOT_MAX_PAYLOAD_BYTES
from emulator.loopback_guard import is_loopback_name
from emulator.ministack.registry import Originals, Patch, Target

logger = logging.getLogger("emulator.iot")

IOT = "ministack.services.iot"
IOT_DATA = "ministack.services.iot_data"
APP = "ministack.app"

MQTT_HOST_PATTERN = Target(APP, "_IOT_DATA_WS_RE")
WEBSOCKET_DISPATCH = Target(APP, "app")
HANDLE_PACKET = Target(IOT, "_WSSession.handle_packet")
DISPATCH_PACKET = Target(IOT, "_WSSession._dispatch_packet")
HTTPS_PUBLISH = Target(IOT_DATA, "_publish")
ERROR_RESPONSE = Target("ministack.core.responses", "error_response_json")
RULE_EVENT = Target(IOT, "_rule_event")
RULE_MESSAGE = Target(IOT, "_rule_message")
DISPATCH_SQS = Target(IOT, "_dispatch_rule_sqs")
SELECT_CLAUSE = Target(IOT, "_rule_select_clause")
SELECT_ITEMS = Target(IOT, "_split_select_items")
RUN_RULE_ACTIONS = Target(IOT, "_run_rule_actions")

PUBLISH_PACKET = 3
SUPPORTED_QOS = (0, 1)
MQTT_5 = 5
# MQTT 5 reason codes a server sends in DISCONNECT before it closes (MQTT 5.0, 2.4).
QOS_NOT_SUPPORTED = 0x9B
PACKET_TOO_LARGE = 0x95
# What AWS reports as the disconnect reason of a client that broke a quota or the protocol.
CLIENT_ERROR = "CLIENT_ERROR"


def _module(name: str) -> Any:
    # sys.modules first: import_module's own lookup cost 1% of the API's CPU per MQTT message.
    return sys.modules.get(name) or importlib.import_module(name)


class _IotOrLoopbackHost:
    """Stands in for MiniStack's host pattern: its AWS-shaped IoT hosts, or a loopback Host."""

    def __init__(self, original: Any) -> None:
        self.original = original

    def search(self, host: str) -> object:
        return self.original.search(host) or is_loopback_name(urlsplit(f"//{host}").hostname or "")


def _mqtt_on_loopback_host(originals: Originals) -> dict[Target, Any]:
    return {MQTT_HOST_PATTERN: _IotOrLoopbackHost(originals[MQTT_HOST_PATTERN])}


MQTT_ON_LOOPBACK_HOST = Patch(
    name="iot-mqtt-websocket-on-loopback-host",
    summary="An MQTT WebSocket upgrade is taken on a loopback Host (ws://127.0.0.1:<port>/mqtt), not only on IoT's",
    targets={MQTT_HOST_PATTERN: "5fd1d20cf71a9d53d577194e8029051984b18dad349e817ba21fb5bc611a3816"},
    build=_mqtt_on_loopback_host,
    # The dispatch reads the pattern with `.search(host)` and only after API Gateway's and AppSync's.
    relies_on={WEBSOCKET_DISPATCH: "ab1297bd6cd59811b347cef576050a6d4d632cb33b6a484dd67a4745c1f2ac95"},
)


def publish_refusal(flags: int, body: bytes, protocol_version: int) -> tuple[str, int] | None:
    """(why, MQTT 5 reason code) when AWS IoT Core would refuse this PUBLISH, else None."""
    qos = (flags >> 1) & 0x03
    if qos not in SUPPORTED_QOS:
        return f"QoS {qos} (AWS IoT Core supports QoS 0 and 1)", QOS_NOT_SUPPORTED
    try:
        payload_bytes = len(body) - _payload_offset(body, qos, protocol_version)
    except (IndexError, struct.error):
        return None  # malformed: MiniStack's own parser answers it
    if payload_bytes > IOT_MAX_PAYLOAD_BYTES:
        return f"a payload of {payload_bytes} bytes (at most {IOT_MAX_PAYLOAD_BYTES})", PACKET_TOO_LARGE
    return None


def _payload_offset(body: bytes, qos: int, protocol_version: int) -> int:
    topic_length: int = struct.unpack_from("!H", body, 0)[0]
    offset = 2 + topic_length + (2 if qos else 0)
    if protocol_version == MQTT_5:
        properties_length, offset = _variable_byte_integer(body, offset)
        offset += properties_length
    return offset


def _variable_byte_integer(body: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = body[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80 or shift >= 21:
            return value, offset
        shift += 7


PacketHandler = Callable[[Any, int, int, bytes], Awaitable[bool]]


def _publish_limits(originals: Originals) -> dict[Target, Any]:
    handle_packet: PacketHandler = originals[HANDLE_PACKET]

    async def handle_within_limits(session: Any, packet_type: int, flags: int, body: bytes) -> bool:
        refusal = publish_refusal(flags, body, session.protocol_version) if packet_type == PUBLISH_PACKET else None
        if refusal is None:
            return await handle_packet(session, packet_type, flags, body)
        why, reason_code = refusal
        logger.warning("IoT broker: PUBLISH from %r refused, connection closed: %s", session._client_id, why)
        session._forced_disconnect_reason = CLIENT_ERROR
        if session.protocol_version == MQTT_5:
            await session.send_bytes(bytes((0xE0, 1, reason_code)))
        return False

    async def https_publish_within_limits(
        topic: str, body: bytes, qp: dict[str, Any], headers: dict[str, Any], access_key: str
    ) -> tuple[Any, ...]:
        if len(body or b"") > IOT_MAX_PAYLOAD_BYTES:
            error_response = _module("ministack.core.responses").error_response_json
            answer: tuple[Any, ...] = error_response(
                "RequestEntityTooLargeException", "Payload exceeds the maximum size allowed", 413
            )
            return answer
        published: tuple[Any, ...] = await originals[HTTPS_PUBLISH](topic, body, qp, headers, access_key)
        return published

    return {HANDLE_PACKET: handle_within_limits, HTTPS_PUBLISH: https_publish_within_limits}


PUBLISH_LIMITS = Patch(
    name="iot-publish-limits",
    summary="A QoS 2 or over-128 KB PUBLISH closes the connection undelivered; an HTTPS Publish over 128 KB gets 413",
    targets={
        HANDLE_PACKET: "cfbea9609d26551e1589ac8b1af4ce9fc6bdb16fab70928e3fdf5a1cc640cb45",
        HTTPS_PUBLISH: "cb28a08fc992d756162262083ef874a742b9ff50c1c77aab86aa9ec1ca8d0e50",
    },
    build=_publish_limits,
    relies_on={
        # Its PUBLISH layout, its `protocol_version`, `_client_id` and `_forced_disconnect_reason`.
        DISPATCH_PACKET: "b510671dcc8f4ed2a87207e28c15d15d8d90f08c16dbe91752e83e706771f3d8",
        ERROR_RESPONSE: "37b83f60219dea513f4cc5820dbdda1f29a04112013fd70151cc8de0c155f2ba",
    },
)


class PublishedObject(dict[str, Any]):
    """A JSON object payload as `SELECT *` projects it, for every other action, with the text it was
    published as, for the SQS action."""

    def __init__(self, message: dict[str, Any], text: str) -> None:
        super().__init__(message)
        self.text = text


class PublishedArray(list[Any]):
    """The same for a JSON array payload."""

    def __init__(self, message: list[Any], text: str) -> None:
        super().__init__(message)
        self.text = text


def _payload_as_published(originals: Originals) -> dict[Target, Any]:
    rule_event, dispatch_sqs, rule_message = originals[RULE_EVENT], originals[DISPATCH_SQS], originals[RULE_MESSAGE]

    def rule_message_of_any_depth(payload: bytes) -> Any:
        try:
            return rule_message(payload)
        except RecursionError:
            # Nested deeper than the parser goes: the rules see text, as for any payload not JSON,
            # instead of the exception ending the device's connection.
            return bytes(payload).decode("utf-8")

    def rule_event_as_published(sql: str, topic: str, payload: bytes, *args: Any, **kwargs: Any) -> Any:
        iot = _module(IOT)
        event = rule_event(sql, topic, payload, *args, **kwargs)
        if iot._split_select_items(iot._rule_select_clause(sql)) not in ([], ["*"]):
            return event
        if event is iot._MISSING:
            return bytes(payload or b"")
        if isinstance(event, dict):
            return PublishedObject(event, payload.decode())
        if isinstance(event, list):
            return PublishedArray(event, payload.decode())
        # A JSON string or number: MiniStack's parsed value would lose its quotes or its digits.
        return payload.decode()

    def dispatch_sqs_as_published(
        account_id: str, region: str, rule_name: str, spec: dict[str, Any], event: Any
    ) -> None:
        if isinstance(event, PublishedObject | PublishedArray):
            event = event.text
        if not isinstance(event, bytes):
            return dispatch_sqs(account_id, region, rule_name, spec, event)  # type: ignore[no-any-return]
        if not spec.get("useBase64"):
            raise RuntimeError(
                f"SQS SendMessage to {spec.get('queueUrl', '')} failed: InvalidMessageContents: the payload is "
                "binary (not UTF-8) and useBase64 is off"
            )
        encoded = base64.b64encode(event).decode("ascii")
        return dispatch_sqs(account_id, region, rule_name, {**spec, "useBase64": False}, encoded)  # type: ignore[no-any-return]

    return {
        RULE_EVENT: rule_event_as_published,
        DISPATCH_SQS: dispatch_sqs_as_published,
        RULE_MESSAGE: rule_message_of_any_depth,
    }


PAYLOAD_AS_PUBLISHED = Patch(
    name="iot-rule-payload-as-published",
    summary="SELECT * hands the SQS action the payload as published, binary included (base64 with useBase64)",
    targets={
        RULE_EVENT: "8b503d9388833d5fb695d18d64b21cf1ead9fd2abc24882203c00a42243c6167",
        DISPATCH_SQS: "7fd16790d8a1b99d19ffb2c1b246221113881fbe00432f1aa8ab7db20ab02082",
        RULE_MESSAGE: "3dde9f1549e427b383f6a131dd1a5e47a5ed573cfb12bf09ccbe71d41cecd02b",
    },
    build=_payload_as_published,
    relies_on={
        SELECT_CLAUSE: "50612f6bedf8a07137cddc08fb6fa88a64854cf00963790a511d0a3b5383a519",
        SELECT_ITEMS: "e67060c447e77c38455029864125af0cc5ca711f22ee3f646ed603cb685c037d",
        # It skips the actions when the event is `_MISSING`, and runs the error action on a raise.
        RUN_RULE_ACTIONS: "d369ff485772aac67d937e2d0753479dfb10ff2f0eb894f32721771f6a32d397",
    },
)


IOT_SERVICE = "iot.amazonaws.com"
SEND_MESSAGE = "sqs:SendMessage"
DISPATCH_ACTION = Target(IOT, "_dispatch_rule_action")
GATHER_ROLE_POLICIES = Target("ministack.core.iam_evaluator", "_gather_role_policies")
RESOLVE_MANAGED_POLICY = Target("ministack.core.iam_evaluator", "_resolve_managed_policy_document")
EVALUATE = Target("ministack.core.iam_evaluator", "evaluate")
EVALUATE_RESOURCE_POLICY = Target("ministack.core.iam_evaluator", "evaluate_resource_policy")
EVAL_CONTEXT = Target("ministack.core.iam_evaluator", "EvalContext")
GET_QUEUE = Target("ministack.services.sqs", "_get_q")
REQUEST_SCOPE = Target("ministack.core.responses", "request_scope")
ROLE_PRINCIPAL = Target(IOT, "_rule_role_principal")


def sqs_action_refusal(
    account_id: str,
    region: str,
    role_arn: str,
    queue_url: str,
    decided: dict[tuple[Any, ...], str | None],
) -> str | None:
    """Why IoT Core could not send to the queue as the rule's role, or None when it may: the role
    exists and trusts IoT, its policies allow sqs:SendMessage on the queue, and the queue's policy
    does not deny it (within one account an identity policy's allow is enough, as on AWS).

    `decided` keeps earlier answers by everything they were judged on (the role's trust, inline and
    managed policy documents, the queue's policy): evaluating the policies was 8% of the API's CPU
    through MQTT, and a changed document is a new key, so a change is seen at the next message."""
    iam = _module("ministack.services.iam")
    role_name = role_arn.rsplit("/", 1)[-1] if ":role/" in role_arn else ""
    role = iam._roles.get_scoped(account_id, None, role_name) if role_name else None
    if role is None:
        return f"Unable to assume role {role_arn!r}: no such role"
    sqs = _module("ministack.services.sqs")
    with _module("ministack.core.responses").request_scope(account_id, region):
        try:
            attributes = sqs._get_q(queue_url)["attributes"]
        except sqs._Err:
            return None  # no such queue: the send itself reports it
    inputs = (account_id, region, role_arn, queue_url, _role_documents(role, account_id), attributes.get("Policy"))
    if inputs not in decided:
        if len(decided) >= DECISIONS_KEPT:
            decided.clear()
        decided[inputs] = _judged_refusal(account_id, region, role_arn, role_name, role, attributes)
    return decided[inputs]


# Distinct (role, queue, documents) answers kept; past it they are judged afresh.
DECISIONS_KEPT = 256


def _role_documents(role: dict[str, Any], account_id: str) -> str:
    """The role's trust, inline and managed policy documents as one text: equal text, equal answer."""
    resolve = _module("ministack.core.iam_evaluator")._resolve_managed_policy_document
    attached = [(arn, resolve(arn, account_id)) for arn in role.get("AttachedPolicies", [])]
    return repr((role.get("AssumeRolePolicyDocument"), role.get("InlinePolicies"), attached))


def _judged_refusal(
    account_id: str, region: str, role_arn: str, role_name: str, role: dict[str, Any], attributes: dict[str, Any]
) -> str | None:
    if not _trusts_iot(role.get("AssumeRolePolicyDocument")):
        return f"Unable to assume role {role_arn!r}: its trust policy does not name {IOT_SERVICE}"
    evaluator = _module("ministack.core.iam_evaluator")
    queue_arn = attributes["QueueArn"]
    context = evaluator.EvalContext(
        principal_arn=role_arn,
        principal_type="AssumedRole",
        principal_account=account_id,
        action=SEND_MESSAGE,
        resource_arn=queue_arn,
        region=region,
    )
    if evaluator.evaluate(context, evaluator._gather_role_policies(role_name, account_id)).decision != "Allow":
        return f"AccessDenied: {role_arn} is not allowed {SEND_MESSAGE} on {queue_arn} by its policies"
    if evaluator.evaluate_resource_policy(attributes.get("Policy"), context).decision == "Deny":
        return f"AccessDenied: the policy of {queue_arn} denies {SEND_MESSAGE} to {role_arn}"
    return None


def _trusts_iot(document: Any) -> bool:
    if isinstance(document, str):
        try:
            document = json.loads(unquote(document))
        except ValueError:
            return False
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        services = (statement.get("Principal") or {}).get("Service", []) if isinstance(statement, dict) else []
        actions = statement.get("Action", []) if isinstance(statement, dict) else []
        if (
            statement.get("Effect") == "Allow"
            and IOT_SERVICE in ([services] if isinstance(services, str) else services)
            and "sts:AssumeRole" in ([actions] if isinstance(actions, str) else actions)
        ):
            return True
    return False


def _rule_role_enforced(originals: Originals) -> dict[Target, Any]:
    dispatch_action = originals[DISPATCH_ACTION]
    decided: dict[tuple[Any, ...], str | None] = {}

    async def dispatch_as_the_role(
        account_id: str, region: str, rule_name: str, action: dict[str, Any], event: Any
    ) -> None:
        spec = action.get("sqs")
        if isinstance(spec, dict):
            role_arn, queue_url = spec.get("roleArn") or "", spec.get("queueUrl") or ""
            refusal = sqs_action_refusal(account_id, region, role_arn, queue_url, decided)
            if refusal is not None:
                raise RuntimeError(f"SQS SendMessage to {spec.get('queueUrl', '')} failed: {refusal}")
        await dispatch_action(account_id, region, rule_name, action, event)

    return {DISPATCH_ACTION: dispatch_as_the_role}


RULE_ROLE_ENFORCED = Patch(
    name="iot-rule-sqs-action-as-its-role",
    summary="A rule's SQS action and error action send only as their role may: trust, its policies, the queue policy",
    targets={DISPATCH_ACTION: "2cc290cef1d21e1e30c2de5f24410f78782322d5a36fd3efe2b33afc9593b7cd"},
    build=_rule_role_enforced,
    relies_on={
        # Where IAM keeps a role (`_roles.get_scoped(account, None, name)`), as this reads it.
        ROLE_PRINCIPAL: "601a05889bb2b420f3ec0429b633dd44b4d4c7faebb17a9300646976a9dd4599",
        # The answers are kept by what gathering reads: the role's inline and managed documents.
        RESOLVE_MANAGED_POLICY: "59ca6f381d9260d3e90f2786bea11013a75dce3ad4196d008a9cd05f9533c30f",
        GATHER_ROLE_POLICIES: "d83d1661b86595ac8babc95841fec0e216a5d5b4a862e92f05b35be6c451dd20",
        EVALUATE: "2a5dd6932d1aca6a6e0759dca046354fdde705da759f8ea7fed9487e3bc49825",
        EVALUATE_RESOURCE_POLICY: "e49ce7161ad63e35672a960067131789e35087bb35ff5fef944372c0f76bc2e7",
        EVAL_CONTEXT: "f5769904b3fa1d4eb6bb6bdad08ae5284a1af071144fd4d95547deec9cd320db",
        GET_QUEUE: "cac74fb142a7c27ef665fcc6ba5eff47a4ddd11e744ce5954eb2d43fde50d57a",
        REQUEST_SCOPE: "c1ee92e8e8c7ceef39367575044006ef3c574e657638f2427dc28fe0aae8e727",
    },
)
