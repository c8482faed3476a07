"""Helpers for scripts/bench: seed moto, a latency proxy that counts IAM calls, the
sequential boto3 scan keyrot is compared with, config generation, and timing a command.

Everything talks to 127.0.0.1 only. Run with the project's .venv python (boto3 comes
with moto)."""

import asyncio
import concurrent.futures
import json
import os
import resource
import subprocess
import sys
import time
import urllib.parse

CREDENTIALS = dict(
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
    region_name="us-east-1",
)


def iam(url):
    import boto3

    return boto3.client("iam", endpoint_url=url, **CREDENTIALS)


def user_name(i):
    return f"bench-{i:06d}"


def seed(url, n):
    """N users with one access key each, sixteen at a time."""
    client = iam(url)

    def one(i):
        name = user_name(i)
        client.create_user(UserName=name, Path="/bench/")
        client.create_access_key(UserName=name)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(n)))


def fresh(url, n):
    """Moto emptied, then N users with one access key each."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", method="POST"), timeout=30)
    seed(url, n)


def rotation_calls(url, n):
    """What moto alone allows for a rotation's creates: on freshly seeded users, sixteen
    boto3 threads make the calls keyrot's apply makes per user (ListAccessKeys,
    CreateAccessKey, GetCallerIdentity signed by the new key, ListAccessKeys) as fast as
    moto answers. Prints calls per second."""
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    fresh(url, n)
    client = iam(url)

    def caller_identity(key):
        # Signed by hand: a boto3 client per new key costs more than moto's answer.
        body = "Action=GetCallerIdentity&Version=2011-06-15"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        request = AWSRequest(method="POST", url=url + "/", data=body, headers=headers)
        credentials = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        SigV4Auth(credentials, "sts", "us-east-1").add_auth(request)
        signed = urllib.request.Request(url + "/", data=body.encode(), headers=dict(request.headers))
        answer = urllib.request.urlopen(signed, timeout=30).read().decode()
        assert ":user/" in answer, answer

    def one(i):
        name = user_name(i)
        client.list_access_keys(UserName=name)
        caller_identity(client.create_access_key(UserName=name)["AccessKey"])
        client.list_access_keys(UserName=name)
        return 4

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        total = sum(pool.map(one, range(n)))
    print(f"{total / (time.monotonic() - started):.0f}")


def scan(url, n):
    """What a plain script does: ListAccessKeys then GetAccessKeyLastUsed per key, one
    call at a time. Prints the seconds it took."""
    client = iam(url)
    started = time.monotonic()
    for i in range(n):
        keys = client.list_access_keys(UserName=user_name(i))["AccessKeyMetadata"]
        for key in keys:
            client.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    print(f"{time.monotonic() - started:.2f}")


def selector_config(directory):
    """keyrot config choosing every seeded user by its path: one `users` block."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "users.hcl"), "w") as out:
        out.write(
            'users "bench" {\n  path_prefix = "/bench/"\n  access_key {\n'
            '    deliver "file" {\n      path = "secrets/${user}.json"\n    }\n  }\n}\n'
        )


def config(directory, n, per_file=1000):
    """keyrot config for users 0..n, per_file user blocks to a file."""
    os.makedirs(directory, exist_ok=True)
    for f in range(0, n, per_file):
        with open(os.path.join(directory, f"users-{f // per_file:04d}.hcl"), "w") as out:
            for i in range(f, min(n, f + per_file)):
                name = user_name(i)
                out.write(
                    f'user "{name}" {{\n  access_key {{\n    deliver "file" {{\n'
                    f'      path = "secrets/{name}.json"\n    }}\n  }}\n}}\n'
                )


def measure(argv):
    """Runs argv; prints 'SECONDS PEAK_RSS_MB EXIT_CODE' (stdout and stderr to /dev/null)."""
    started = time.monotonic()
    code = subprocess.call(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.monotonic() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{took:.2f} {peak_kb / 1024:.0f} {code}")


# ------------------------------------------------------------------ the latency proxy


class Proxy:
    """HTTP/1.1 keep-alive proxy: every request waits `latency` seconds before it is
    forwarded (a distant endpoint), and is counted by its Action. GET /__counts returns
    the counts as JSON; POST /__reset clears them."""

    def __init__(self, upstream, latency):
        parsed = urllib.parse.urlparse(upstream)
        self.host, self.port = parsed.hostname, parsed.port
        self.latency = latency
        self.counts = {}

    async def read_message(self, reader):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                body += chunk[:-2]
                if size == 0:
                    break
            head = head.replace(b"Transfer-Encoding: chunked", b"Content-Length: %d" % len(body))
            head = head.replace(b"transfer-encoding: chunked", b"Content-Length: %d" % len(body))
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        return lines[0], headers, head, body

    def count(self, start, body):
        form = urllib.parse.parse_qs(body.decode("latin-1"))
        query = urllib.parse.parse_qs(urllib.parse.urlparse(start.split(" ")[1]).query)
        action = (form.get("Action") or query.get("Action") or ["other"])[0]
        self.counts[action] = self.counts.get(action, 0) + 1

    async def control(self, start, writer):
        if start.startswith("POST /__reset"):
            self.counts = {}
        body = json.dumps(self.counts).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    async def client(self, reader, writer):
        up = None
        try:
            while True:
                try:
                    start, headers, head, body = await self.read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if " /__" in start:
                    await self.control(start, writer)
                    continue
                self.count(start, body)
                await asyncio.sleep(self.latency)
                if up is None:
                    up = await asyncio.open_connection(self.host, self.port)
                up[1].write(head + body)
                await up[1].drain()
                status, rheaders, rhead, rbody = await self.read_message(up[0])
                writer.write(rhead + rbody)
                await writer.drain()
                if rheaders.get("connection", "").lower() == "close" or status.startswith("HTTP/1.0"):
                    up[1].close()
                    up = None
                if headers.get("connection", "").lower() == "close":
                    return
        finally:
            if up is not None:
                up[1].close()
            writer.close()

    async def serve(self, port_file):
        server = await asyncio.start_server(self.client, "127.0.0.1", 0, limit=1 << 22)
        port = server.sockets[0].getsockname()[1]
        with open(port_file + ".tmp", "w") as out:
            out.write(str(port))
        os.rename(port_file + ".tmp", port_file)
        async with server:
            await server.serve_forever()


def proxy(upstream, latency_ms, port_file):
    asyncio.run(Proxy(upstream, float(latency_ms) / 1000).serve(port_file))


def counts(url, reset=False):
    import urllib.request

    request = urllib.request.Request(url + ("/__reset" if reset else "/__counts"), method="POST" if reset else "GET")
    print(urllib.request.urlopen(request, timeout=10).read().decode())


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "seed":
        seed(args[0], int(args[1]))
    elif command == "fresh":
        fresh(args[0], int(args[1]))
    elif command == "rate":
        rotation_calls(args[0], int(args[1]))
    elif command == "scan":
        scan(args[0], int(args[1]))
    elif command == "config":
        config(args[0], int(args[1]))
    elif command == "selector-config":
        selector_config(args[0])
    elif command == "measure":
        measure(args)
    elif command == "proxy":
        proxy(args[0], args[1], args[2])
    elif command == "counts":
        counts(args[0])
    elif command == "reset":
        counts(args[0], reset=True)
    else:
        sys.exit(f"unknown command {command}")
