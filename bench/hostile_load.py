"""A mixed hostile load for the memory probe (bench/memory_probe.sh; docs/SECURITY.md, "Memory and
core dumps"): signed KMS calls with random members, CreateKey (CREATE_RATE, default 0.05), garbage,
oversized and half-sent bodies, connection churn; 16 clients for SECONDS.

Usage: hostile_load.py ENDPOINT SECONDS (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"""
import json, os, random, socket, sys, threading, time, urllib.parse
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

endpoint, seconds = sys.argv[1], float(sys.argv[2])
host, port = urllib.parse.urlparse(endpoint).hostname, urllib.parse.urlparse(endpoint).port
creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
targets = ["Encrypt", "Decrypt", "GenerateDataKey", "CreateKey", "DescribeKey", "ListKeys",
           "CreateAlias", "TagResource", "GenerateRandom", "ReEncrypt", "Bogus"]
keys = []
CREATE_RATE = float(os.environ.get("CREATE_RATE", "0.05"))

def signed(target, body):
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService." + target})
    SigV4Auth(creds, "kms", "us-east-1").add_auth(request)
    head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    return (f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n{head}\r\n").encode() + body

def random_body(rng):
    choice = rng.random()
    if choice < 0.3 and keys:
        return json.dumps({"KeyId": rng.choice(keys), "Plaintext": "aGVsbG8=" * rng.randint(1, 500),
                           "EncryptionContext": {str(rng.random()): "x" * rng.randint(0, 300)},
                           "KeySpec": "AES_256", "NumberOfBytes": rng.randint(1, 1024)}).encode()
    if choice < 0.5:
        return os.urandom(rng.randint(0, 4000))
    if choice < 0.6:
        return b"{" * rng.randint(1, 100000)
    return json.dumps({"Description": "d" * rng.randint(0, 8000), "Tags": [
        {"TagKey": str(i), "TagValue": "v"} for i in range(rng.randint(0, 60))]}).encode()

def worker(seed, stop):
    rng = random.Random(seed)
    while time.time() < stop:
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                for _ in range(rng.randint(1, 20)):
                    kind = rng.random()
                    if kind < 0.05:
                        s.sendall(b"POST / HTTP/1.1\r\nContent-Length: 300000\r\n\r\n" + b"x" * 300000)
                    elif kind < 0.1:
                        s.sendall(b"GARBAGE " * rng.randint(1, 3000) + b"\r\n\r\n")
                    elif kind < 0.13:
                        s.sendall(b"POST / HTTP/1.1\r\nContent-Length: 200000\r\n\r\n" + b"y" * rng.randint(0, 150000))
                        break  # half-sent
                    else:
                        target = "CreateKey" if (rng.random() < CREATE_RATE or len(keys) < 20) else rng.choice([t for t in targets if t != "CreateKey" or CREATE_RATE > 0])
                        s.sendall(signed(target, random_body(rng)))
                    data = s.recv(65536)
                    if target == "CreateKey" and b'"KeyId"' in data:
                        keys.append(json.loads(data.split(b"\r\n\r\n", 1)[1])["KeyMetadata"]["KeyId"])
                    if not data:
                        break
        except (OSError, ValueError, KeyError, IndexError, UnboundLocalError):
            pass

stop = time.time() + seconds
threads = [threading.Thread(target=worker, args=(i, stop)) for i in range(16)]
for t in threads: t.start()
for t in threads: t.join()
print(f"keys created: {len(keys)}")
