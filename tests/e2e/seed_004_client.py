import struct
import websocket
def send_datapoint(ws, timestamp, value, series, tags):
    # Pack header
    message = struct.pack('<qd', timestamp, value)
    # Pack series
    series_bytes = series.encode('utf-8')
    message += struct.pack('<HH', len(series_bytes), len(tags))
    message += series_bytes
    # Pack tags
    for tag in tags:
        tag_bytes = tag.encode('utf-8')
        message += struct.pack('<H', len(tag_bytes))
        message += tag_bytes
    ws.send(message, websocket.ABNF.OPCODE_BINARY)
ws = websocket.create_connection("ws://0.0.0.0:2077/")
send_datapoint(
    ws,
    timestamp=1709481600000000000,
    value=23.5,
    series="temperature",
    tags=["sensor=living_room", "unit=celsius"]
)
ws.close()
