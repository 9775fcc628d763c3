"""The running embedded backend answers this machine only: what a web page or a rebound DNS name
sends it is refused, while boto3 and the AWS CLI work as before."""

import http.client
import json
from urllib.parse import urlsplit

import boto3
import pytest

from emulator.call_counter import COUNTS_PATH, FAULTS_PATH
from tests.integration.test_backend import cli

pytestmark = pytest.mark.integration

PROBE_TABLE = "loopback_probe"


@pytest.fixture(scope="module")
def probe_table(iot_backend):
    """A table of its own holding one item a hostile page would like to read."""
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=iot_backend.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    dynamodb.create_table(
        TableName=PROBE_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.get_waiter("table_exists").wait(TableName=PROBE_TABLE, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    dynamodb.put_item(TableName=PROBE_TABLE, Item={"id": {"S": "secret-reading"}})
    yield dynamodb
    dynamodb.delete_table(TableName=PROBE_TABLE)


def request(backend, method, path, headers, body=b""):
    """One raw request to the backend, as a browser or a script would send it: (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", urlsplit(backend.endpoint).port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": f"127.0.0.1:{urlsplit(backend.endpoint).port}", **headers}.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def unsigned_scan(backend, **headers):
    scan = {"X-Amz-Target": "DynamoDB_20120810.Scan", "Content-Type": "application/x-amz-json-1.0", **headers}
    return request(backend, "POST", "/", scan, json.dumps({"TableName": PROBE_TABLE}).encode())


def test_a_cross_origin_scan_is_refused_and_reads_nothing(iot_backend, probe_table):
    status, headers, body = unsigned_scan(iot_backend, Origin="https://attacker.example")
    assert status == 403
    assert json.loads(body)["__type"] == "AccessDeniedException"
    assert b"secret-reading" not in body and "access-control-allow-origin" not in headers


def test_a_loopback_page_reads_with_its_own_origin_echoed(iot_backend, probe_table):
    status, headers, body = unsigned_scan(iot_backend, Origin="http://localhost:3000")
    assert status == 200 and b"secret-reading" in body
    assert headers["access-control-allow-origin"] == "http://localhost:3000"
    status, headers, _ = request(
        iot_backend,
        "OPTIONS",
        "/",
        {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert status == 204 and headers["access-control-allow-origin"] == "http://localhost:3000"


def test_a_dns_rebinding_host_is_refused(iot_backend, probe_table):
    port = urlsplit(iot_backend.endpoint).port
    status, _, body = unsigned_scan(iot_backend, Host=f"attacker.example:{port}")
    assert status == 403 and b"not a loopback name" in body and b"secret-reading" not in body
    assert request(iot_backend, "GET", COUNTS_PATH, {"Host": f"rebound.attacker.example:{port}"})[0] == 403
    assert request(iot_backend, "GET", COUNTS_PATH, {"Host": f"localhost:{port}"})[0] == 200


def test_a_text_plain_post_cannot_inject_a_fault(iot_backend, probe_table):
    fault = json.dumps({"operation": "dynamodb.Scan", "count": 5, "code": "ServiceUnavailableException"}).encode()
    status, _, body = request(iot_backend, "POST", FAULTS_PATH, {"Content-Type": "text/plain"}, fault)
    assert status == 415 and b"application/json" in body
    status, _, body = request(iot_backend, "POST", FAULTS_PATH, {"Content-Type": "application/json"}, b"{oops")
    assert status == 400 and json.loads(body)["__type"] == "SerializationException"
    assert probe_table.scan(TableName=PROBE_TABLE)["Count"] == 1, "no fault was injected"


def test_boto3_and_the_aws_cli_still_work_without_any_wildcard_cors(iot_backend, probe_table):
    assert probe_table.describe_table(TableName=PROBE_TABLE)["Table"]["TableStatus"] == "ACTIVE"
    s3 = boto3.client(
        "s3",
        endpoint_url=iot_backend.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    s3.create_bucket(Bucket="loopback-probe")
    s3.put_object(Bucket="loopback-probe", Key="k", Body=b"v")
    assert s3.get_object(Bucket="loopback-probe", Key="k")["Body"].read() == b"v"
    s3.delete_object(Bucket="loopback-probe", Key="k")
    s3.delete_bucket(Bucket="loopback-probe")
    scanned = cli(iot_backend, "dynamodb", "scan", "--table-name", PROBE_TABLE)
    assert scanned["Items"] == [{"id": {"S": "secret-reading"}}]
    status, headers, _ = request(iot_backend, "GET", COUNTS_PATH, {})
    assert status == 200 and not any(name.startswith("access-control-") for name in headers)
