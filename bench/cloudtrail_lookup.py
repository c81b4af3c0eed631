"""LookupEvents and GetTrailStatus over a large trail (docs/AUDIT.md, "Over HTTP"): synthesizes a
chained trail of N records (default 200 000, ~250 MiB, files of 64 MiB) in a fresh data dir,
starts kmsd on it (KMSD_BINARY), and times the calls through boto3, and `kmsd audit verify`.

    KMSD_BINARY=build/kmsd /usr/bin/python3 bench/cloudtrail_lookup.py [N]
"""
import hashlib, json, os, sys, time, uuid, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/integration"))
from kmsd_harness import KmsdServer

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
data = tempfile.mkdtemp(prefix="ct-bench-")
audit = os.path.join(data, "audit"); os.makedirs(audit, mode=0o700)
start = int(time.time()) - N  # one record a second, ending now
prev = b"\0" * 32
out = None; size = 0
key = "arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-0000-4000-8000-000000000001"
for seq in range(1, N + 1):
    t = start + seq
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    if out is None or size > 64 << 20:
        if out: out.close()
        name = "trail-%020d-%s.jsonl" % (seq, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t)))
        out = open(os.path.join(audit, name), "wb"); size = 0
    event = {"eventVersion": "1.08", "userIdentity": {"type": "Root", "principalId": "111122223333",
             "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333", "accessKeyId": "AKIAEXAMPLE"},
             "eventTime": stamp, "eventSource": "kms.amazonaws.com", "eventName": "Encrypt" if seq % 1000 else "CreateKey",
             "awsRegion": "us-east-1", "sourceIPAddress": "127.0.0.1", "userAgent": "bench/1.0 " + "x" * 300,
             "requestParameters": {"keyId": key, "encryptionContext": {"tenant": "acme"}}, "responseElements": None,
             "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()), "readOnly": False,
             "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": key}],
             "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": "111122223333",
             "eventCategory": "Management", "nodeId": "bench", "sequenceNumber": seq, "previousHash": prev.hex()}
    line = json.dumps(event, separators=(",", ":")).encode()
    prev = hashlib.sha256(prev + line).digest()
    out.write(line + b"\n"); size += len(line) + 1
out.close()
total = sum(os.path.getsize(os.path.join(audit, f)) for f in os.listdir(audit))
print(f"trail: {N} records, {total / 2**20:.0f} MiB in {len(os.listdir(audit))} files")
with KmsdServer(data_dir=data) as server:
    ct = server.client(service="cloudtrail")
    def timed(label, fn, repeat=5):
        best = None
        for _ in range(repeat):
            t0 = time.perf_counter(); r = fn(); dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        print(f"{label}: best of {repeat} {best * 1000:.1f} ms"); return r
    timed("LookupEvents newest 50, no filter", lambda: ct.lookup_events())
    timed("LookupEvents EventName=CreateKey (1 in 1000), first page", lambda: ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}]), 3)
    timed("LookupEvents EventName=Nothing, one page (the 16 MiB bound)", lambda: ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Nothing"}]), 3)
    t0 = time.perf_counter(); pages = 0; token = None; found = 0
    while True:
        r = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}], **({"NextToken": token} if token else {}))
        pages += 1; found += len(r["Events"]); token = r.get("NextToken")
        if not token: break
    print(f"LookupEvents EventName=CreateKey, all pages: {found} events, {pages} pages, {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter(); s = ct.get_trail_status(Name="kmsd"); first = time.perf_counter() - t0
    print(f"GetTrailStatus first call {first * 1000:.0f} ms: {s.get('LatestDeliveryAttemptSucceeded')} {s.get('LatestDigestDeliveryError', '')[:80]}")
    for _ in range(200):
        s = ct.get_trail_status(Name="kmsd")
        if "LatestDeliveryAttemptSucceeded" in s: break
        time.sleep(0.5)
    print("verified:", s.get("LatestDeliveryAttemptSucceeded"), s.get("LatestDigestDeliveryError", ""))
    timed("GetTrailStatus cached", lambda: ct.get_trail_status(Name="kmsd"), 5)
import subprocess
t0 = time.perf_counter()
verify = subprocess.run([server.binary, "audit", "verify", "--data-dir", data], capture_output=True, text=True)
print(f"kmsd audit verify: {time.perf_counter() - t0:.2f} s: {verify.stdout.strip()[:100]}")
import shutil; shutil.rmtree(data)
