"""The API server's settings that devices and SDKs meet."""

import paho.mqtt.client as mqtt
import pytest
from websockets.exceptions import ProtocolError
from websockets.frames import Frame
from websockets.streams import StreamReader

from emulator.api_server import server_config


def test_the_server_sends_no_websocket_pings_so_mqtt_keep_alive_alone_holds_a_connection():
    config = server_config(app=None, port=4566)
    assert config.ws_ping_interval is None


def test_paho_answers_a_websocket_ping_with_a_pong_the_server_must_refuse():
    """Why there are no pings: paho's pong is unmasked, and a server closes on an unmasked client frame."""
    websocket = mqtt._WebsocketWrapper
    pong = websocket._create_frame(None, websocket.OPCODE_PONG, bytearray(b"1234"), 0)  # type: ignore[arg-type]
    reader = StreamReader()
    reader.feed_data(bytes(pong))
    with pytest.raises(ProtocolError, match="incorrect masking"):
        next(Frame.parse(reader.read_exact, mask=True))
