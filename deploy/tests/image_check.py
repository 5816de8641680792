"""The image `scripts/build-image` wrote, unpacked and started as a runtime
would: its entrypoint, as its user, from its own root filesystem, with no
container daemon. `serve --check` holds; a running `serve` answers
/healthz, /readyz, and a tool call from the official MCP Python client
(signed in at the fake issuer); SIGTERM stops it cleanly.

Usage: python image_check.py LAYOUT TAG FAKE_PROGRAM MCP_PYTHON
As root (a chroot, a network namespace of its own), as `.ci/run` runs it.
"""

import json
import os
import subprocess
import sys
import tempfile

from pod import Fake, Pod, isolate, unpack, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "..", "..", "nexus-mcp", "tests", "clients", "serve_oauth.py")
# What a runtime image must not hold: a shell, a package manager.
FORBIDDEN = {"sh", "bash", "dash", "ash", "busybox", "apt", "apt-get", "dpkg", "apk", "yum", "dnf"}


def contents(rootfs):
    """Every file in the image, by path."""
    found = []
    for top, _, names in os.walk(rootfs):
        found += [os.path.relpath(os.path.join(top, n), rootfs) for n in names]
    return sorted(found)


def main(layout, tag, fake_program, mcp_python):
    isolate()
    failures = []
    rootfs, config = unpack(layout, tag, tempfile.mkdtemp(prefix="nexus-image-"))
    process = config["process"]
    files = contents(rootfs)
    print(f"the image holds {len(files)} files: {', '.join(files)}")
    held = [f for f in files if os.path.basename(f) in FORBIDDEN]
    if held:
        failures.append(f"the image holds {held}: no shell, no package manager")
    if process["user"].get("uid", 0) == 0:
        failures.append("the image runs as root")
    if process["args"] != ["/nexus-mcp"]:
        failures.append(f"the entrypoint is {process['args']}, not /nexus-mcp")

    fake = Fake(fake_program)
    port = 8080  # the image's, free in the namespace of our own
    public = f"http://127.0.0.1:{port}/mcp"
    args = ["serve", f"--listen=0.0.0.0:{port}", f"--public-url={public}",
            f"--issuer={fake.issuer}"]
    env = {"NEXUS_GATEWAY_URL": fake.gateway,
           "NEXUS_API_KEY_FILE": "/var/run/secrets/nexus-mcp/api-key/api-key",
           "NEXUS_MCP_STATE_KEYS_FILE": "/var/run/secrets/nexus-mcp/state-keys/state-keys"}
    secrets = {"/var/run/secrets/nexus-mcp/api-key/api-key": ("sk_image_check\n", 0o440),
               "/var/run/secrets/nexus-mcp/state-keys/state-keys":
                   ("k1:an-image-check-sealing-key-of-32-bytes\n", 0o440)}
    pod = Pod(rootfs, process, args, env, secrets)
    try:
        # The person the client signs in as (the fake approves alice) has
        # GitHub connected in the workspace serve derives for them.
        code, workspace, said = pod.run_only(
            pod.entered("workspace", f"--issuer={fake.issuer}", "--subject=alice"))
        if code != 0:
            failures.append(f"nexus-mcp workspace in the image exited {code}: {said}")
        fake.control_gateway("/_fake/providers", {"workspace": workspace.strip(), "name": "github",
                                                  "token": "gho_image_check",
                                                  "api_base_url": fake.upstream})
        failures += [why for why in [pod.unchecked()] if why]
        pod.start()
        for path in ("/healthz", "/readyz"):
            status, body = wait_for(f"http://127.0.0.1:{port}{path}", pod)
            print(f"{path}: {status} {body.strip()}")
            if status != 200:
                failures.append(f"{path} answered {status}: {body}\n{pod.said()}")
        client = subprocess.run([mcp_python, CLIENT, public, fake.upstream], capture_output=True,
                                text=True, timeout=120, env={**os.environ, "NEXUS_MCP_ERA": "2026"})
        if client.returncode != 0:
            failures.append(f"the Python client failed: {client.stdout}{client.stderr}\n{pod.said()}")
        else:
            calls = json.loads(client.stdout)["results"]
            print(f"the official Python client's calls: {json.dumps(calls)}")
            if not calls or any(c["is_error"] for c in calls) or "github" not in calls[0]["text"]:
                failures.append(f"a tool call failed in the image: {calls}")
        failures += [why for why in [pod.stop_failure()] if why]
    finally:
        pod.close()
        fake.close()
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
