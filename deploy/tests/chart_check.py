"""The Helm chart, checked for each values file in its `ci/`: linted strict
and rendered (helm-python-sdk: Helm's own code, no cluster), the render
equal to its golden file, each object valid for the oldest Kubernetes
still supported upstream and the newest (kubernetes-validate), no Secret's
value in it, and the rendered Deployment run as the pod would run it: the
image's entrypoint from its unpacked root filesystem, under its user, with
exactly the container's arguments and environment and each Secret and
ConfigMap key laid out at its mount. `serve --check` must hold, and each
probe must answer 200 at its path and port from the running `serve`.

Only the two addresses a test cannot reach are changed for the pod: the
issuer and the Gateway, pointed at the fake in the provider's shape.

Usage: python chart_check.py IMAGE_LAYOUT TAG FAKE_PROGRAM [--update] [--test-the-test]
As root (a chroot, a network namespace of its own), as `.ci/run` runs it.
  --update          rewrites the golden files (review the diff)
  --test-the-test   each check made to fail once: a wrong flag, a probe on a
                    path serve does not answer, a Secret's value in a render,
                    a secret variable given a value (by the template, and by
                    the values, which the chart's schema refuses), a policy
                    change that rolls no replica, an invalid field
"""

import collections
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import helm_python
import kubernetes_validate
import yaml

from pod import Fake, Pod, isolate, unpack, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
CHART = os.path.join(HERE, "..", "helm", "nexus-mcp")
GOLDEN = os.path.join(HERE, "golden")
# The oldest minor still supported upstream on 2026-11-26 (1.34 ended on
# 2026-10-27) and the newest.
KUBERNETES = ["1.35.0", "1.37.0"]
# The fake issuer in each values file's provider's shape.
SHAPES = {"entra": ["--issuer-tenant", "TENANT_ID"], "okta": ["--issuer-shape", "okta-org"],
          "google": ["--issuer-shape", "google"]}


# The image unpacked, and what this make-believe cluster holds: the
# existing Secrets' values by (Secret, key), and the program's secret
# variables.
Image = collections.namedtuple("Image", "rootfs process held variables")


def secret_variables(rootfs, process):
    """Each variable that holds a secret's value itself, as the program
    names them (its --help: "…_FILE  each secret above (NEXUS_API_KEY, …)")."""
    pod = Pod(rootfs, process, ["--help"], {}, {})
    try:
        _, said, _ = pod.run_only(pod.command)
    finally:
        pod.close()
    listed = re.search(r"each secret above \(([^)]*)\)", said)
    return set(re.findall(r"[A-Z_]+", listed.group(1))) if listed else set()


def schema_unmet(variables):
    """The chart's values schema refuses each secret variable, and its
    `_FILE` twin, in extraEnv: the program's list, no other."""
    with open(os.path.join(CHART, "values.schema.json")) as f:
        name = json.load(f)["properties"]["extraEnv"]["items"]["properties"]["name"]
    refused = set(name["not"]["enum"])
    wanted = variables | {f"{v}_FILE" for v in variables}
    if not variables or refused != wanted:
        return [f"the values schema refuses {sorted(refused)} in extraEnv; the program's "
                f"secret variables are {sorted(wanted)}"]
    return []


def secrets_held(redis_url):
    """What the existing Secrets hold in this make-believe cluster, by
    (Secret, key): laid out as files for the pod, and never in a render."""
    return {("nexus-gateway", "api-key"): "sk_chart_check_gateway_key",
            ("nexus-mcp-state-keys", "state-keys"): "k1:chart-check-sealing-key-of-32-bytes-or-more",
            ("nexus-mcp-login", "client-secret"): "chart-check-login-client-secret",
            ("nexus-mcp-redis", "url"): redis_url}


def rendered(chart, values):
    """The chart's objects for `values`, and the render's text (as `helm
    template` prints it: each template under its `# Source:` line)."""
    files = helm_python.Chart.load(chart).render(values, name="nexus-mcp", namespace="mcp")
    text = "".join(f"---\n# Source: {name}\n{body.strip()}\n"
                   for name, body in sorted(files.items())
                   if body.strip() and not name.endswith("NOTES.txt"))
    return [d for d in yaml.safe_load_all(text) if d], text


def linted(chart, values):
    failures = []
    for version in KUBERNETES:
        report = helm_python.lint(chart, values, strict=True, kube_version=f"v{version}")
        failures += [f"lint {version}: {m['path']}: {m['error']}"
                     for m in report["messages"] if m["severity"] >= 2]
        failures += [f"lint {version}: {e}" for e in report["errors"]]
    return failures


def validated(objects):
    """Each object against each version's strict schema; the
    ServiceMonitor (a CRD, no schema bundled) by what it must name."""
    failures = []
    for o in objects:
        if o["kind"] == "ServiceMonitor":
            failures += monitor_unmet(o, objects)
            continue
        for version in KUBERNETES:
            try:
                kubernetes_validate.validate(o, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                failures.append(f"invalid for {version}: {o['kind']} {e.path}: {e.message}")
    return failures


def monitor_unmet(monitor, objects):
    wanted = monitor["spec"]["selector"]["matchLabels"]
    ports = [p["name"] for o in objects if o["kind"] == "Service"
             and wanted.items() <= o["metadata"]["labels"].items() for p in o["spec"]["ports"]]
    missing = [e["port"] for e in monitor["spec"]["endpoints"] if e["port"] not in ports]
    return [f"the ServiceMonitor names port {p}, which no Service it selects has" for p in missing]


def template_of(objects):
    """The Deployment's pod template."""
    return next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]


def container_of(objects):
    spec = template_of(objects)["spec"]
    return spec, spec["containers"][0]


def secrets_shown(objects, text, image):
    """A Secret object, a secret variable given its value, or any value an
    existing Secret holds, anywhere in the render."""
    failures = [f"the render holds a Secret ({o['metadata']['name']})"
                for o in objects if o["kind"] == "Secret"]
    _, container = container_of(objects)
    failures += [f"the variable {e['name']} is given a value in the render: a secret is a file"
                 for e in container.get("env", []) if e["name"] in image.variables]
    failures += [f"the value of Secret {s} key {k} is in the render"
                 for (s, k), value in image.held.items() if value in text]
    return failures


def laid_out(objects, held):
    """Each file the container mounts, as the kubelet lays it out: the
    Secrets' keys (0440) and the ConfigMap's (0444)."""
    spec, container = container_of(objects)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    maps = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}
    files = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "secret" in volume:
            name = volume["secret"]["secretName"]
            for item in volume["secret"]["items"]:
                value = held.get((name, item["key"]), f"no key {item['key']} in {name}")
                files[f"{mount['mountPath']}/{item['path']}"] = (value + "\n", 0o440)
        else:
            for key, text in maps[volume["configMap"]["name"]].items():
                files[f"{mount['mountPath']}/{key}"] = (text, 0o444)
    return files


# Each probe's route: readiness is the one that leaves the Service while the
# issuer or the Gateway cannot be reached; liveness on it would restart
# every replica then.
PROBES = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}


def probes_unanswered(pod, container):
    """Each probe on its route, asked of the running serve at its path and
    port."""
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    failures = []
    for kind, route in PROBES.items():
        probe = container[kind]["httpGet"]
        if probe["path"] != route:
            failures.append(f"{kind} is on {probe['path']}, not {route}")
        port = ports.get(probe["port"], probe["port"])
        status, body = wait_for(f"http://127.0.0.1:{port}{probe['path']}", pod, within=30)
        if status != 200:
            failures.append(f"{kind} {probe['path']} on {probe['port']} answered {status}: {body}")
    return failures


def user_of(spec, container, image_user):
    """Who the container runs as: the image's user, unless the pod's or the
    container's securityContext names another; fsGroup a group besides."""
    pod, own = spec.get("securityContext", {}), container.get("securityContext", {})
    said = {**pod, **own}
    user = {"uid": said.get("runAsUser", image_user.get("uid", 0)),
            "gid": said.get("runAsGroup", image_user.get("gid", 0))}
    if "fsGroup" in pod:
        user["additionalGids"] = [pod["fsGroup"]]
    return user


def run_as_pod(image, objects, fake):
    """The rendered Deployment's container run from the image: `serve
    --check`, then serve, its probes asked, then SIGTERM."""
    spec, container = container_of(objects)
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    process = {**image.process, "user": user_of(spec, container, image.process["user"])}
    if process["user"]["uid"] == 0 and spec.get("securityContext", {}).get("runAsNonRoot"):
        return ["runAsNonRoot, and the container would run as root: the kubelet refuses it"]
    pod = Pod(image.rootfs, process, container["args"], env, laid_out(objects, image.held))
    try:
        unchecked = pod.unchecked()
        if unchecked:
            return [f"with the render's arguments and files, {unchecked}"]
        pod.start()
        failures = probes_unanswered(pod, container)
        failures += [why for why in [pod.stop_failure()] if why]
        return failures + ([pod.said()] if failures else [])
    finally:
        pod.close()


def rolls_unmet(chart, values, objects):
    """Each file of the ConfigMap changed, the pod template changes with
    it: `helm upgrade` then rolls every replica onto the new file."""
    failures = []
    template = template_of(objects)
    for key in ("policy", "denyList"):
        if values.get(key):
            changed = rendered(chart, {**values, key: values[key] + "\n# changed\n"})[0]
            if template_of(changed) == template:
                failures.append(f"a changed {key} leaves the pod template as it was: no rollout")
    return failures


def checked(chart, name, values, image, fake_program, update=False):
    """Every failure of the values file `name` (with `values`)."""
    failures = linted(chart, values)
    try:
        objects, text = rendered(chart, values)
    except helm_python.HelmError as e:
        return failures + [f"render: {e}"]
    golden = os.path.join(GOLDEN, f"{name}.yaml")
    if update:
        with open(golden, "w") as f:
            f.write(text)
    elif not os.path.exists(golden) or open(golden).read() != text:
        failures.append(f"the render differs from {golden} (--update, then review the diff)")
    failures += validated(objects)
    failures += secrets_shown(objects, text, image)
    failures += rolls_unmet(chart, values, objects)
    fake = Fake(fake_program, *SHAPES.get(name, []))
    try:
        for client in ("LOGIN_CLIENT_ID", "LOGIN_CLIENT_ID.apps.googleusercontent.com",
                       "nexus-mcp-connect"):
            fake.control("/_fake/clients", {
                "client_id": client, "redirect_uri": "https://mcp.example.com/connect/callback",
                "client_secret": image.held[("nexus-mcp-login", "client-secret")]})
        faked = {**values, "gateway": {**values["gateway"], "url": fake.gateway},
                 "serve": {**values["serve"], "issuer": fake.issuer}}
        failures += run_as_pod(image, rendered(chart, faked)[0], fake)
    finally:
        fake.close()
    return failures


def guide_unmet(files):
    """The guide's least values (nexus-mcp/docs/serve.md) as the defaults
    file that CI checks holds them."""
    guide = open(os.path.join(HERE, "..", "..", "nexus-mcp", "docs", "serve.md")).read()
    shown = guide.split("ci/defaults-values.yaml`:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    if yaml.safe_load(shown) != files["defaults"]:
        return ["the guide's least values differ from ci/defaults-values.yaml"]
    return []


def values_files():
    ci = os.path.join(CHART, "ci")
    return {f[: -len("-values.yaml")]: yaml.safe_load(open(os.path.join(ci, f)))
            for f in sorted(os.listdir(ci)) if f.endswith("-values.yaml")}


def mutated(edit):
    """A copy of the chart with `edit` (file, old, new) made."""
    copy = os.path.join(tempfile.mkdtemp(prefix="nexus-chart-"), "nexus-mcp")
    shutil.copytree(CHART, copy)
    path, old, new = edit
    text = open(os.path.join(copy, path)).read()
    assert old in text, f"{old!r} is not in {path}"
    with open(os.path.join(copy, path), "w") as f:
        f.write(text.replace(old, new))
    return copy


def test_the_test(image, fake_program):
    """Each check fails once, on the fault it is for: (what, the words its
    failure must hold, the chart, the values)."""
    files = values_files()
    api_key = image.held[("nexus-gateway", "api-key")]
    shown = {**files["defaults"], "podAnnotations": {"note": api_key}}
    given = {**files["defaults"], "extraEnv": [{"name": "NEXUS_API_KEY", "value": api_key}]}
    cases = [
        ("a wrong flag", "serve --check",
         mutated(("templates/_helpers.tpl", '(list "subject-claim"', '(list "subject-claims"')),
         "entra"),
        ("a probe on a path serve does not answer", "readinessProbe /ready ",
         mutated(("templates/deployment.yaml", "path: /readyz", "path: /ready")), "defaults"),
        ("a Secret's value in a render", "is in the render", CHART, shown),
        ("a secret variable given a value", "is given a value in the render",
         mutated(("templates/deployment.yaml", "            - name: NEXUS_GATEWAY_URL",
                  "            - name: NEXUS_MCP_STORE\n              value: redis://x\n"
                  "            - name: NEXUS_GATEWAY_URL")), "defaults"),
        ("a secret variable in the values", "'not' failed", CHART, given),
        ("a policy change that rolls nothing", "changed policy leaves the pod template",
         mutated(("templates/deployment.yaml", "checksum/files: {{ $files | sha256sum }}",
                  "checksum/files: fixed")), "entra"),
        ("an invalid field", "invalid for 1.35.0",
         mutated(("templates/deployment.yaml", "readOnlyRootFilesystem", "readOnlyRootFileSystem")),
         "defaults"),
    ]
    missed = []
    for what, words, chart, values in cases:
        name = values if isinstance(values, str) else "defaults"
        values = files[values] if isinstance(values, str) else values
        failures = checked(chart, name, values, image, fake_program)
        caught = any(words in f for f in failures)
        print(f"test of the test: {what}: {'caught' if caught else 'MISSED'}")
        if not caught:
            missed.append(f"{what} was not caught: {failures}")
    return missed


def redis(port):
    """A Redis with a password, for the store a values file names."""
    program = os.environ.get("NEXUS_REDIS") or shutil.which("redis-server")
    if not program:
        sys.exit("needs redis-server (NEXUS_REDIS): the Entra values name a store")
    server = subprocess.Popen([program, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--requirepass", "chart-check-redis"],
                              stdout=subprocess.DEVNULL)
    while server.poll() is None:  # until it takes a connection
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.05)
    sys.exit(f"redis-server exited {server.returncode}")


def main(layout, tag, fake_program, *flags):
    isolate()
    port = 6379  # Redis's own: free in the namespace of our own
    store = redis(port)
    rootfs, config = unpack(layout, tag, tempfile.mkdtemp(prefix="nexus-image-"))
    process = config["process"]
    image = Image(rootfs, process, secrets_held(f"redis://:chart-check-redis@127.0.0.1:{port}"),
                  secret_variables(rootfs, process))
    failed = guide_unmet(values_files()) + schema_unmet(image.variables)
    try:
        for name, values in values_files().items():
            failures = checked(CHART, name, values, image, fake_program, "--update" in flags)
            print(f"{name}: {'ok' if not failures else 'FAILED'}")
            failed += [f"{name}: {f}" for f in failures]
        if "--test-the-test" in flags:
            failed += test_the_test(image, fake_program)
    finally:
        store.terminate()
    for failure in failed:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
