import base64
import json
import random

import pytest

from aws_calls.batching import RetryPolicy
from device_data.messages import MessageFate
from handlers.core.ingest_rules import IngestRules, RejectedMessage, message_items
from simulator.fleet import make_fleet
from simulator.malformed import PUBLISHED_CATALOGUE
from simulator.payloads import FORMS, Plan, PlanSettings
from simulator.sender import send_run
from simulator.sqs_sender import SqsSender
from simulator.transports import Via, default_via

NOW = 1_800_000_000.0


def plan(seed=7, **settings):
    rng = random.Random(seed)
    return Plan(make_fleet(20, 0.2, rng), PlanSettings(**settings), rng)


def run(messages=500, **settings):
    p = plan(**settings)
    return [p.next_message(NOW + n * 0.001) for n in range(messages)]


def test_the_same_seed_sends_the_same_run():
    assert [m.body for m in run(seed=3)] == [m.body for m in run(seed=3)]
    assert [m.body for m in run(seed=3)] != [m.body for m in run(seed=4)]


def test_fleet_has_stable_ids_and_a_share_of_staging_devices():
    devices = make_fleet(20, 0.2, random.Random(1))
    assert [d.device_id for d in devices][:5] == [
        "stg-dev-0000",
        "stg-dev-0001",
        "stg-dev-0002",
        "stg-dev-0003",
        "dev-0004",
    ]
    assert sum(d.staging for d in devices) == 4


def test_every_form_appears_and_each_message_becomes_what_the_ingest_rules_make_of_it():
    messages = run(2000, bad_ratio=0.1, backdate_ratio=0.1, plain_json_ratio=0.3)
    assert {m.kind for m in messages} >= set(FORMS)
    for message in messages:
        try:
            result = message_items(message.body, IngestRules())
        except RejectedMessage as rejected:
            assert message.fate == MessageFate.DEAD_LETTERED and message.kind == f"malformed:{rejected.code}"
            continue
        if result.filtered_client_id is not None:
            assert message.fate == MessageFate.FILTERED
        else:
            assert message.fate == MessageFate.STORED
            assert {(i["deviceID"], int(i["createdAt"])) for i in result.items} == set(message.keys)


def test_no_two_readings_share_a_table_key():
    keys = [key for message in run(3000, backdate_ratio=0.2) for key in message.keys]
    assert len(keys) == len(set(keys))


def test_backdated_readings_are_already_past_their_ttl():
    for message in run(1000, backdate_ratio=0.5, ttl_seconds=3600):
        items = (
            message_items(message.body, IngestRules(ttl_seconds=3600)).items
            if message.fate == MessageFate.STORED
            else []
        )
        for item in items:
            assert (item["expiredAt"] <= NOW) == message.expired


def test_both_encodings_are_sent():
    bodies = [m.body for m in run(400, plain_json_ratio=0.5) if m.fate != MessageFate.DEAD_LETTERED]
    plain = [b for b in bodies if b.startswith("{")]
    assert plain and len(plain) < len(bodies)
    assert json.loads(base64.b64decode(next(b for b in bodies if not b.startswith("{"))))


class FakeSqs:
    """Fails the first entry of every third call once, as SQS's partial failures do."""

    def __init__(self):
        self.calls = []
        self.received = []

    def send_message_batch(self, QueueUrl, Entries):
        self.calls.append([e["Id"] for e in Entries])
        failed = [Entries[0]] if len(self.calls) % 3 == 0 else []
        self.received += [e["MessageBody"] for e in Entries if e not in failed]
        return {
            "Successful": [],
            "Failed": [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in failed],
        }


def test_partially_failed_batches_are_sent_again_until_everything_is_delivered():
    messages = run(95)
    batches = [messages[i : i + 10] for i in range(0, 95, 10)]
    sqs = FakeSqs()
    sender = SqsSender(sqs, "q", retry=RetryPolicy(attempts=3, base_delay=0))
    tally = send_run(sender, iter(batches), rate=100000, senders=1)
    assert tally.total == 95 and tally.failed == 0
    assert sorted(sqs.received) == sorted(m.body for m in messages)
    assert any(len(call) == 1 for call in sqs.calls), "only the failed entry is sent again"


def test_a_burst_releases_its_batches_at_once_on_top_of_the_schedule():
    from simulator.__main__ import BurstSchedule

    schedule = BurstSchedule(every=10, size=25)  # three batches of up to ten
    assert schedule(9.9) == 0
    assert [schedule(10.0), schedule(10.0), schedule(10.0), schedule(10.0)] == [3, 2, 1, 0]
    assert schedule(19.0) == 0 and schedule(20.0) == 3


def test_no_bursts_by_default():
    from simulator.__main__ import BurstSchedule

    assert all(BurstSchedule(0, 0)(t) == 0 for t in (0, 10, 100))


def test_a_plan_yields_its_total_in_batches_and_runs_on_without_one():
    import itertools

    p = plan()
    assert [len(batch) for batch in p.batches(25, 10, clock=lambda: NOW)] == [10, 10, 5]
    endless = p.batches(None, 10, clock=lambda: NOW)
    assert [len(batch) for batch in itertools.islice(endless, 100)] == [10] * 100


def test_every_malformed_payload_a_device_publishes_ends_as_predicted_once_the_rule_base64_encodes_it():
    for entry in PUBLISHED_CATALOGUE:
        body = base64.b64encode(entry.payload).decode()
        if entry.fate == MessageFate.RULE_ERROR:
            assert body == "", entry.name  # SQS takes no empty message: the rule's error action parks it
            continue
        try:
            message_items(body, IngestRules())
        except RejectedMessage as rejected:
            assert rejected.code == entry.expected_code, entry.name
        else:
            raise AssertionError(f"{entry.name} was stored")


def test_nothing_over_iot_cores_payload_limit_is_published():
    assert all(len(entry.payload) <= 128 * 1024 for entry in PUBLISHED_CATALOGUE)
    assert "reading over 400 KB" not in {entry.name for entry in PUBLISHED_CATALOGUE}


def test_through_the_rule_each_message_is_its_payload_base64_encoded_and_becomes_what_ingest_makes_of_it():
    messages = run(2000, bad_ratio=0.1, backdate_ratio=0.1, plain_json_ratio=0.5, through_rule=True)
    assert {m.fate for m in messages} == {
        MessageFate.STORED,
        MessageFate.FILTERED,
        MessageFate.DEAD_LETTERED,
        MessageFate.RULE_ERROR,
    }
    for message in messages:
        assert base64.b64decode(message.body) == message.payload
        assert message.topic == f"{message.device_id}/SENSOR/DAT"
        if message.fate == MessageFate.RULE_ERROR:
            assert message.kind.startswith("rule_error:")
            continue
        try:
            result = message_items(message.body, IngestRules())
        except RejectedMessage as rejected:
            assert message.fate == MessageFate.DEAD_LETTERED and message.kind == f"malformed:{rejected.code}"
            continue
        assert message.fate == (MessageFate.FILTERED if result.filtered_client_id else MessageFate.STORED)


def test_the_same_seed_plans_the_same_readings_whichever_the_transport():
    direct, through_rule = run(300, seed=5), run(300, seed=5, through_rule=True)
    assert [m.keys for m in direct] == [m.keys for m in through_rule]


@pytest.mark.parametrize(
    ("outputs", "env", "via", "said"),
    [
        ({"iot_endpoint": "ws://127.0.0.1:4566/mqtt"}, {}, Via.MQTT, None),
        ({"iot_endpoint": "ws://127.0.0.1:4566/mqtt"}, {"BACKEND": "embedded"}, Via.MQTT, None),
        ({"iot_endpoint": "ws://127.0.0.1:4566/mqtt"}, {"BACKEND": "localstack"}, Via.SQS, "BACKEND=localstack"),
        ({"iot_endpoint": None}, {}, Via.SQS, "no IoT endpoint"),
    ],
)
def test_mqtt_is_the_default_where_the_backend_has_iot_core_and_sqs_is_said_in_one_line(outputs, env, via, said):
    chosen, why = default_via(outputs, env)
    assert chosen == via
    assert (why is None) if said is None else (said in why and "\n" not in why)
