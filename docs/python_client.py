# The ten-line Python client of docs/protocol.md: python3 docs/python_client.py READY_FILE USER
import json, sys
try:
    import zmq
except ImportError:
    sys.exit("python_client.py needs pyzmq: apt-get install python3-zmq (Debian/Ubuntu), or pip install pyzmq; "
             "or run it with a python3 that has it, e.g. /usr/bin/python3")
sock = zmq.Context().socket(zmq.DEALER)
sock.setsockopt(zmq.RCVTIMEO, 5000); sock.setsockopt(zmq.LINGER, 0)
sock.connect(open(sys.argv[1]).read().strip())
def ask(req):
    sock.send(json.dumps(req).encode())
    return json.loads(sock.recv())       # raises zmq.Again after 5 s
print(json.dumps(ask({"op": "ping", "id": 1})))
print(json.dumps(ask([{"op": "uplift", "user": sys.argv[2]}, {"op": "segment", "user": sys.argv[2]}])))
