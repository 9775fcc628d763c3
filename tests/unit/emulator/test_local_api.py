"""The data plane's lean client against an in-process HTTP server: the requests it sends, the
errors it reads, what it retries, and its kept-alive connections."""

import http.server
import json
import socket
import threading
from dataclasses import dataclass, field

import pytest

from emulator.esm import local_api
from emulator.esm.local_api import (
    NO_ANSWER,
    READ_TIMEOUT_SECONDS,
    ApiError,
    JsonClient,
    JsonService,
    Lambda,
    LocalApi,
    is_transient,
)

FUNCTION = "arn:aws:lambda:eu-west-1:000000000000:function:f"


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    # Close the connection after answering, without saying so (as a server's keep-alive timeout does).
    close: bool = False


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


class Server:
    """Answers requests in the order given (then 200 {}), and records them."""

    def __init__(self):
        self.answers: list[Answer] = []
        self.requests: list[Request] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self.answer()

            def do_POST(self):
                self.answer()

            def answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append(
                    Request(self.command, self.path, dict(self.headers), body, self.client_address[1])
                )
                answer = server.answers.pop(0) if server.answers else Answer()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
                self.close_connection = answer.close

            def log_message(self, *_args):
                pass

        class HttpServer(http.server.ThreadingHTTPServer):
            def shutdown_request(self, request):
                super().shutdown_request(request)
                server.closed.set()

        self.closed = threading.Event()
        self.http = HttpServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def connections(self):
        return len({request.client_port for request in self.requests})


@pytest.fixture
def server():
    running = Server()
    yield running
    running.http.shutdown()
    running.http.server_close()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def api(server, sleeps):
    return LocalApi(server.endpoint, "eu-west-1", sleep=sleeps.append)


@pytest.fixture
def sqs(api):
    return JsonClient(api, JsonService.SQS)


@pytest.fixture
def streams(api):
    return JsonClient(api, JsonService.DYNAMODB_STREAMS)


def test_a_json_call_sends_the_target_the_json_body_and_a_credential_scope_naming_the_region(server, api, sqs):
    server.answers.append(Answer(body=b'{"Messages": [{"MessageId": "m1"}]}'))
    answer = sqs.call("ReceiveMessage", QueueUrl="http://q", MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert answer == {"Messages": [{"MessageId": "m1"}]}
    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/")
    assert request.headers["X-Amz-Target"] == "AmazonSQS.ReceiveMessage"
    assert request.headers["Content-Type"] == "application/x-amz-json-1.0"
    assert request.headers["x-amzn-query-mode"] == "true"
    assert request.headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=test/20260101/eu-west-1/sqs/aws4_request,"
    )
    assert json.loads(request.body) == {"QueueUrl": "http://q", "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}


def test_dynamodb_streams_calls_are_scoped_to_dynamodb_as_botocore_signs_them(server, api, streams):
    streams.call("GetRecords", ShardIterator="it", Limit=100)
    [request] = server.requests
    assert request.headers["X-Amz-Target"] == "DynamoDBStreams_20120810.GetRecords"
    assert "/eu-west-1/dynamodb/aws4_request" in request.headers["Authorization"]
    assert "x-amzn-query-mode" not in request.headers
    assert json.loads(request.body) == {"ShardIterator": "it", "Limit": 100}


def test_invoke_posts_the_payload_to_the_escaped_function_and_reads_the_answer_headers(server, api):
    server.answers.append(
        Answer(
            body=b'{"errorMessage": "boom"}', headers={"X-Amz-Function-Error": "Unhandled", "x-amzn-RequestId": "r1"}
        )
    )
    invocation = Lambda(api).invoke(FUNCTION, b'{"Records": []}')
    assert invocation == local_api.Invocation("r1", 200, "Unhandled", b'{"errorMessage": "boom"}')
    [request] = server.requests
    assert request.path == (
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A000000000000%3Afunction%3Af/invocations"
    )
    assert request.headers["X-Amz-Invocation-Type"] == "RequestResponse"
    assert "/eu-west-1/lambda/aws4_request" in request.headers["Authorization"]
    assert request.body == b'{"Records": []}'


def test_a_function_that_returned_normally_has_no_function_error(server, api):
    server.answers.append(Answer(body=b"null", headers={"x-amzn-RequestId": "r2"}))
    assert Lambda(api).invoke(FUNCTION, b"{}") == local_api.Invocation("r2", 200, None, b"null")


def test_the_event_source_mappings_are_read_page_after_page(server, api):
    server.answers += [
        Answer(body=json.dumps({"EventSourceMappings": [{"UUID": "a"}], "NextMarker": "m/2"}).encode()),
        Answer(body=json.dumps({"EventSourceMappings": [{"UUID": "b"}]}).encode()),
    ]
    assert Lambda(api).event_source_mappings() == [{"UUID": "a"}, {"UUID": "b"}]
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/2015-03-31/event-source-mappings"),
        ("GET", "/2015-03-31/event-source-mappings?Marker=m%2F2"),
    ]


@pytest.mark.parametrize(
    ("answer", "code", "message"),
    [
        (
            Answer(
                400,
                b'{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "no queue"}',
                {"x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender"},
            ),
            "AWS.SimpleQueueService.NonExistentQueue",
            "no queue",
        ),
        (
            Answer(400, b'{"__type": "com.amazonaws.dynamodb.v20120810#ExpiredIteratorException", "message": "old"}'),
            "ExpiredIteratorException",
            "old",
        ),
        (
            Answer(
                404,
                b'{"Type": "User", "Message": "Function not found"}',
                {"x-amzn-ErrorType": "ResourceNotFoundException:http://internal.amazon.com/"},
            ),
            "ResourceNotFoundException",
            "Function not found",
        ),
        (Answer(404, b"<html>not found</html>"), "404", ""),
    ],
)
def test_an_error_answer_raises_its_code_message_and_status_as_botocore_reads_them(
    server, api, answer, code, message, streams
):
    server.answers.append(answer)
    with pytest.raises(ApiError) as raised:
        streams.call("GetRecords", ShardIterator="it")
    assert (raised.value.code, raised.value.message, raised.value.status) == (code, message, answer.status)
    assert raised.value.operation == "GetRecords"
    assert len(server.requests) == 1, "not retried"


def test_an_answer_that_is_not_a_json_object_is_an_error(server, api, streams):
    server.answers.append(Answer(body=b"[1, 2]"))
    with pytest.raises(ApiError) as raised:
        streams.call("DescribeStream", StreamArn="arn")
    assert (raised.value.code, raised.value.status) == ("InvalidResponse", 200)


def test_a_5xx_is_retried_with_backoff_until_it_succeeds(server, api, sleeps, streams):
    server.answers += [Answer(503, b'{"__type": "ServiceUnavailable"}'), Answer(500, b"{}")]
    assert streams.call("GetShardIterator", ShardId="s") == {}
    assert len(server.requests) == 3
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 1 and 0 <= sleeps[1] <= 2


def test_throttling_is_retried_and_after_three_attempts_the_error_is_raised(server, api, sleeps, sqs):
    throttled = Answer(400, b'{"__type": "ThrottlingException", "message": "slow down"}')
    server.answers += [throttled, throttled, throttled, Answer()]
    with pytest.raises(ApiError) as raised:
        sqs.call("SendMessage", QueueUrl="q", MessageBody="b")
    assert (raised.value.code, raised.value.status) == ("ThrottlingException", 400)
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_an_api_that_is_gone_is_an_error_without_an_answer_after_three_attempts(sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = LocalApi(f"http://127.0.0.1:{port}", "eu-west-1", sleep=sleeps.append)
    with pytest.raises(ApiError) as raised:
        JsonClient(api, JsonService.SQS).call("GetQueueUrl", QueueName="q")
    assert (raised.value.code, raised.value.status) == ("ConnectionRefusedError", NO_ANSWER)
    assert is_transient(raised.value)
    assert len(sleeps) == 2


def test_what_is_transient():
    assert is_transient(ApiError("Op", "ServiceUnavailable", "", 503))
    assert is_transient(ApiError("Op", "RequestThrottled", "", 400))
    assert is_transient(ApiError("Invoke", "TooManyRequestsException", "", 429))
    assert not is_transient(ApiError("Op", "ValidationException", "", 400))
    assert not is_transient(ValueError("not an API error"))


def test_one_kept_alive_connection_per_thread_with_the_read_timeout_of_an_invocation(server, api, streams):
    for _ in range(3):
        streams.call("DescribeStream", StreamArn="arn")
    assert server.connections() == 1
    assert api._local.connection.sock.gettimeout() == READ_TIMEOUT_SECONDS
    other = threading.Thread(target=streams.call, args=("DescribeStream",), kwargs={"StreamArn": "arn"})
    other.start()
    other.join()
    assert server.connections() == 2


def test_a_connection_the_server_closed_is_replaced_before_the_next_call(server, sleeps, streams, monkeypatch):
    server.answers.append(Answer(close=True))
    sent = []
    send = local_api._Connection.exchange
    monkeypatch.setattr(local_api._Connection, "exchange", lambda self, *args: sent.append(args) or send(self, *args))
    streams.call("DescribeStream", StreamArn="arn")
    assert server.closed.wait(timeout=5)
    streams.call("DescribeStream", StreamArn="arn")
    assert len(sent) == 2, "no request went out on the closed connection"
    assert len(server.requests) == 2 and server.connections() == 2
    assert sleeps == []


def test_a_connection_closed_as_the_request_goes_is_retried_at_once_on_a_new_one(
    server, api, sleeps, monkeypatch, streams
):
    server.answers.append(Answer(close=True))
    streams.call("DescribeStream", StreamArn="arn")
    # The server's close not seen yet when the next request goes.
    monkeypatch.setattr(local_api, "_closed_by_peer", lambda _sock: False)
    assert streams.call("DescribeStream", StreamArn="arn") == {}
    assert len(server.requests) == 2 and server.connections() == 2
    assert sleeps == []


def test_the_local_api_is_plain_http():
    with pytest.raises(ValueError, match="plain HTTP"):
        LocalApi("https://127.0.0.1:4566", "us-east-1")


def test_json_services_name_their_target_prefix_and_credential_scope():
    assert (JsonService.SQS.target_prefix, JsonService.SQS.signing_name) == ("AmazonSQS", "sqs")
    assert JsonService.DYNAMODB_STREAMS.signing_name == "dynamodb"
