"""Two public SCIM conformance checkers against a Tenant URL, as the tests run them.

usage: scim_checkers.py TENANT_URL SECRET_TOKEN

Runs scim2-tester (check_server, every check it has) and scim-sanity's
probe (strict, JSON output), and prints one JSON object on stdout:
{"scim2_tester": [{"title", "status", "reason", "resource_type"}],
 "scim_sanity": <its JSON report>}. Nothing here judges: the Rust test
does, against the list of what the server declines.
"""

import json
import subprocess
import sys
from pathlib import Path

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server


def tester(url: str, token: str) -> list:
    headers = {"Authorization": f"Bearer {token}"}
    client = SyncSCIMClient(httpx2.Client(base_url=url, headers=headers, timeout=30))
    results = check_server(client)
    return [
        {
            "title": result.title,
            "status": result.status.name,
            "reason": result.reason,
            "resource_type": result.resource_type,
        }
        for result in results
    ]


def sanity(url: str, token: str) -> dict:
    program = Path(sys.executable).parent / "scim-sanity"
    args = [str(program), "probe", url, "--token", token, "--json-output", "--i-accept-side-effects"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"unreadable": done.stdout[-4000:], "stderr": done.stderr[-4000:]}


if __name__ == "__main__":
    url, token = sys.argv[1], sys.argv[2]
    print(json.dumps({"scim2_tester": tester(url, token), "scim_sanity": sanity(url, token)}))
