"""A deploy, teardown, status or logs acts only on this stack's backend: each case is a fake
server on a free loopback port answering as an emulator, LocalStack or something else would."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bootstrap.backend_check import PROBE_TIMEOUT_SECONDS, Answerer, check_backend, what_answers
from bootstrap.local_stack import Backend, StackError
from emulator.identity import IDENTITY_PATH, ensure_identity
from emulator.lifecycle import free_port
from emulator.settings import EmulatorSettings

LOCALSTACK_HEALTH = {"services": {"sqs": "running"}, "edition": "community", "version": "4.14.0"}


@pytest.fixture
def serve():
    """serve({path: (status, document)}) -> the endpoint of a server answering those, 404 else."""
    servers = []

    def start(routes):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, document = routes.get(self.path, (404, {"message": "not found"}))
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def emulator(tmp_path):
    """This stack's embedded settings, its state folder given an identity as the API process does."""
    settings = EmulatorSettings(state_dir=str(tmp_path / "ours" / "embedded"))
    ensure_identity(settings.state_dir)
    return settings


def embedded_backend_of(state_dir):
    return {IDENTITY_PATH: (200, ensure_identity(state_dir).document())}


def refusal(endpoint, recorded, emulator, command="teardown"):
    with pytest.raises(StackError) as refused:
        check_backend(endpoint, recorded, emulator, command)
    message = str(refused.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("recorded", [Backend.EMBEDDED, None])
def test_this_stacks_embedded_backend_is_acted_on(serve, emulator, recorded):
    endpoint = serve(embedded_backend_of(emulator.state_dir))
    check_backend(endpoint, recorded, emulator, "deploy")
    check_backend(endpoint + "/", recorded, emulator, "deploy")


@pytest.mark.parametrize("recorded", [Backend.EMBEDDED, None])
def test_another_state_folders_emulator_is_refused_naming_the_endpoint_and_whose_it_is(
    serve, emulator, tmp_path, recorded
):
    theirs = tmp_path / "theirs" / "embedded"
    endpoint = serve(embedded_backend_of(str(theirs)))
    message = refusal(endpoint, recorded, emulator)
    assert message.startswith(f"refusing to teardown: {endpoint} is answered by the embedded backend of {theirs},")
    assert emulator.state_dir in message and "EMULATOR_PORT" in message


def test_a_state_folder_that_never_ran_an_emulator_is_no_emulators_owner(serve, tmp_path):
    endpoint = serve(embedded_backend_of(str(tmp_path / "theirs" / "embedded")))
    fresh = EmulatorSettings(state_dir=str(tmp_path / "fresh" / "embedded"))
    assert "refusing to deploy" in refusal(endpoint, Backend.EMBEDDED, fresh, "deploy")


def test_localstack_is_refused_where_this_stack_runs_embedded(serve, emulator):
    endpoint = serve({"/_localstack/health": (200, LOCALSTACK_HEALTH)})
    message = refusal(endpoint, Backend.EMBEDDED, emulator)
    assert f"{endpoint} is answered by LocalStack, not by this stack's embedded backend" in message


def test_the_localstack_backend_is_acted_on_once_its_health_endpoint_answers(serve, emulator):
    endpoint = serve({"/_localstack/health": (200, LOCALSTACK_HEALTH)})
    assert what_answers(endpoint).answerer == Answerer.LOCALSTACK
    check_backend(endpoint, Backend.LOCALSTACK, emulator, "deploy")
    check_backend(endpoint, None, emulator, "deploy")


def test_the_localstack_backend_refuses_a_server_whose_health_endpoint_fails(serve, emulator):
    endpoint = serve({"/_localstack/health": (503, {"message": "starting"})})
    message = refusal(endpoint, Backend.LOCALSTACK, emulator)
    assert message.startswith(f"refusing to teardown: {endpoint} is answered by a server that is no AWS emulator")
    assert "HTTP 404" in message and "not by this stack's LocalStack" in message


def test_the_localstack_backend_refuses_an_embedded_backend(serve, emulator):
    endpoint = serve(embedded_backend_of(emulator.state_dir))
    assert "not by this stack's LocalStack" in refusal(endpoint, Backend.LOCALSTACK, emulator)


def test_a_ministack_without_an_identity_is_not_taken_for_localstack(serve, emulator):
    health = (200, {"services": {"sqs": "available"}, "edition": "light"})
    endpoint = serve({"/_localstack/health": health, "/_ministack/health": health})
    message = refusal(endpoint, None, emulator)
    assert "a MiniStack that is not this project's embedded backend" in message


def test_nothing_listening_fails_at_once_saying_make_up(emulator):
    endpoint = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    message = refusal(endpoint, Backend.EMBEDDED, emulator)
    assert time.monotonic() - started < PROBE_TIMEOUT_SECONDS
    assert message == f"nothing answers on {endpoint} (connection refused): start the stack with `make up`"


def test_an_endpoint_that_accepts_but_never_answers_fails_after_one_probe_timeout(emulator):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        message = refusal(endpoint, None, emulator)
        assert time.monotonic() - started < 2 * PROBE_TIMEOUT_SECONDS
    assert message == f"nothing answers on {endpoint} (no answer within 1 s): start the stack with `make up`"
