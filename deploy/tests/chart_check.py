"""The Helm chart's checks, each a function that returns what fails (an
empty list when it holds), for the promises `test_chart.py` tests one by
one: linted strict and rendered (helm-python-sdk: Helm's own code, no
cluster), the render its golden file, each object valid for the oldest
Kubernetes still supported upstream and the newest (kubernetes-validate),
no Secret's value in it, a changed policy rolling every replica, each
refusal in the chart's words without the secret it holds, and the rendered
pod run as the kubelet would run it: the image's entrypoint from its
unpacked root filesystem, under its user, with exactly the container's
arguments and environment and each Secret and ConfigMap key laid out at its
mount; its init container's `serve --check` (and helm test's, the same)
holding, then each probe answered.

Only the addresses a test cannot reach are changed for the pod: the issuer
and the Gateway, pointed at the fake in the provider's shape, and a store
given by its URL, pointed at the real redis-server here.

Usage: python chart_check.py --update   rewrites the golden files (review the diff)
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
# A private CA's bundle (the SDK's test CA), for a values file that names one.
PRIVATE_CA = os.path.join(HERE, "..", "..", "tests", "data", "private-ca.crt")
# Redis's own port: free in the network namespace of our own.
REDIS_PORT = 6379
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


def secret_variables_unrefused(variables, chart=CHART):
    """The chart refuses each secret variable, and its `_FILE` twin, in
    extraEnv, at render, without showing its value: the program's list, no
    other (the chart's own list held to the program's --help)."""
    if not variables:
        return ["the program names no secret variable in its --help"]
    files = values_files()
    failures = []
    for name in sorted(variables | {f"{v}_FILE" for v in variables}):
        values = {**files["defaults"], "extraEnv": [{"name": name, "value": "zq7-secret-value"}]}
        said = refused(chart, values)
        if not said or f"extraEnv names {name}" not in said or "zq7-secret-value" in said:
            failures.append(f"extraEnv naming {name} is not refused as a secret's variable: {said}")
    listed = re.search(r'define "nexus-mcp.secretVariables" -}}\n([^\n{]*)',
                       open(os.path.join(chart, "templates", "_helpers.tpl")).read())
    if not listed or set(listed.group(1).split()) != variables:
        failures.append(f"the chart's secret variables differ from the program's {sorted(variables)}")
    return failures


def refused(chart, values):
    """Why the chart refuses to render `values`, as helm says it; None
    when it renders."""
    try:
        rendered(chart, values)
    except helm_python.HelmError as e:
        return str(e)
    return None


# Values a person gets wrong, each refused at render in the chart's words
# (the value to set named), never showing the secret it may hold: (what,
# the values' change, the words, a secret that must not be shown).
SECRET = "zq7pass"
REFUSALS = [
    ("a store URL with a password", {"serve": {"store": {"url": f"redis://:{SECRET}@redis:6379"}}},
     "serve.store holds a URL with a user or password"),
    ("a store URL with a password through extraArgs",
     {"serve": {"extraArgs": [f"--store=redis://:{SECRET}@redis:6379"]}}, "serve.extraArgs holds a URL"),
    ("--store through extraArgs, its URL apart", {"serve": {"extraArgs": ["--store", "redis://r:6379"]}},
     "serve.extraArgs gives --store"),
    ("a URL with a password in another flag's value",
     {"serve": {"returnUrl": f"https://u:{SECRET}@mcp.example.com/done"}}, "serve.returnUrl holds a URL"),
    ("a proxy's password in extraEnv",
     {"extraEnv": [{"name": "HTTPS_PROXY", "value": f"http://u:{SECRET}@proxy:3128"}]},
     "extraEnv HTTPS_PROXY holds a URL"),
    ("the Gateway's URL with a password", {"gateway": {"url": f"https://k:{SECRET}@gw.example.com"}},
     "gateway.url holds a user or password"),
    ("the store given twice", {"serve": {"store": {"url": "redis://r:6379", "secret": {"name": "s"}}}},
     "serve.store.url and serve.store.secret.name both give the store"),
    ("a password Secret with no URL", {"serve": {"store": {"passwordSecret": {"name": "redis"}}}},
     "serve.store.passwordSecret needs serve.store.url"),
    ("the proxy with no login client", {"serve": {"oauthProxy": True}},
     "serve.oauthProxy needs serve.loginClient.id"),
    ("the proxy on two replicas with no store",
     {"serve": {"oauthProxy": True, "loginClient": {"id": "c"}}}, "needs serve.store"),
    ("an autoscaler with no CPU request",
     {"autoscaling": {"enabled": True}, "resources": {"requests": {"cpu": None}}},
     "autoscaling.enabled needs resources.requests.cpu"),
    ("one replica", {"replicaCount": 1}, "replicaCount (1): at least 2"),
    ("a collector URL with a password", {"telemetry": {"otlpEndpoint": f"https://u:{SECRET}@otel:4318"}},
     "telemetry.otlpEndpoint holds a user or password"),
    ("the collector's headers with no collector",
     {"telemetry": {"headersSecret": {"name": "otel-collector-key"}}},
     "telemetry.headersSecret needs telemetry.otlpEndpoint"),
    ("no image repository", {"image": {"repository": ""}}, "image.repository: where you pushed"),
    ("a duration helm cannot read", {"serve": {"timeout": "5 min"}},
     'serve.timeout ("5 min"): a duration such as 30, 30s, 2.5s or 500ms'),
    ("a sign-in life in minutes", {"serve": {"signInLife": "90m"}},
     'serve.signInLife ("90m"): hours or days'),
    ("an allowSignIn rule with no claim", {"serve": {"allowSignIn": ["acme.com"]}},
     'serve.allowSignIn ("acme.com"): CLAIM=VALUE'),
    ("a collector endpoint that is no URL", {"telemetry": {"otlpEndpoint": f"otel:4318 {SECRET}"}},
     "telemetry.otlpEndpoint: the collector's http:// or https:// URL"),
]
# A password as people write one into a URL, unencoded: its `/ ? #` or space
# read as the URL's own; each value that takes a URL refuses every spelling.
for spelled in (f"pa/{SECRET}", f"pa?{SECRET}", f"pa#{SECRET}", f"pa {SECRET}", f'pa"{SECRET}'):
    REFUSALS += [
        (f"a store URL with the password {spelled!r}",
         {"serve": {"store": {"url": f"redis://:{spelled}@redis:6379"}}},
         "serve.store holds a URL with a user or password"),
        (f"the Gateway's URL with the password {spelled!r}",
         {"gateway": {"url": f"https://k:{spelled}@gw.example.com"}},
         "gateway.url holds a user or password"),
        (f"extraArgs with the password {spelled!r}",
         {"serve": {"extraArgs": [f"--issuer=https://u:{spelled}@idp.example.com"]}},
         "serve.extraArgs holds a URL"),
        (f"extraEnv with the password {spelled!r}",
         {"extraEnv": [{"name": "HTTPS_PROXY", "value": f"http://u:{spelled}@proxy:3128"}]},
         "extraEnv HTTPS_PROXY holds a URL"),
    ]
    if " " not in spelled:
        REFUSALS.append((f"a collector URL with the password {spelled!r}",
                         {"telemetry": {"otlpEndpoint": f"https://u:{spelled}@otel:4318"}},
                         "telemetry.otlpEndpoint holds a user or password"))


def merged(base, change):
    """`base` with `change` merged in, dictionaries key by key."""
    out = dict(base)
    for key, value in change.items():
        out[key] = merged(base.get(key, {}), value) if isinstance(value, dict) else value
    return out


def refusals_unmet(chart):
    """Each of REFUSALS refused at render with its words, its secret unshown."""
    defaults = values_files()["defaults"]
    failures = []
    for what, change, words in REFUSALS:
        said = refused(chart, merged(defaults, change))
        if not said or words not in said or SECRET in said:
            failures.append(f"{what}: not refused with {words!r} alone: {said}")
    return failures


def secrets_held(redis_url):
    """What the existing Secrets hold in this make-believe cluster, by
    (Secret, key): laid out as files for the pod, and never in a render."""
    password = redis_url.split(":")[2].split("@")[0]
    return {("nexus-gateway", "api-key"): "sk_chart_check_gateway_key",
            ("nexus-mcp-state-keys", "state-keys"): "k1:chart-check-sealing-key-of-32-bytes-or-more",
            ("nexus-mcp-login", "client-secret"): "chart-check-login-client-secret",
            ("nexus-mcp-redis", "url"): redis_url,
            ("redis", "redis-password"): password,
            ("otel-collector-key", "headers"): "x-api-key=chart-check-collector-key",
            # ConfigMaps the values name: a private CA's bundle, a setting.
            ("company-ca", "ca.pem"): open(PRIVATE_CA).read(),
            ("nexus-mcp-tuning", "timeout"): "37s"}


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
        if o["kind"] == "HTTPRoute":
            failures += route_unmet(o, objects)
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


def route_unmet(route, objects):
    """An HTTPRoute (a CRD, no schema bundled): attached to a Gateway, for
    a host, to a Service and port the render makes."""
    services = {(o["metadata"]["name"], p["port"]) for o in objects if o["kind"] == "Service"
                for p in o["spec"]["ports"]}
    spec = route["spec"]
    failures = [] if spec.get("parentRefs") and spec.get("hostnames") else [
        "the HTTPRoute names no Gateway or no host"]
    return failures + [f"the HTTPRoute sends to {b['name']}:{b['port']}, which no Service is"
                       for r in spec["rules"] for b in r["backendRefs"]
                       if (b["name"], b["port"]) not in services]


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


def laid_out(objects, held, container):
    """Each file `container` mounts, as the kubelet lays it out: the
    Secrets' keys (0440), the chart's ConfigMap's and any other's the
    cluster holds (0444)."""
    spec = template_of(objects)["spec"]
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
            name = volume["configMap"]["name"]
            data = maps.get(name) or {k: v for (n, k), v in held.items() if n == name}
            for key, text in data.items():
                files[f"{mount['mountPath']}/{key}"] = (text, 0o444)
    return files


def env_of(container, held):
    """`container`'s environment as the kubelet gives it: each value, or
    the key a ConfigMap or Secret holds, or the pod's own field."""
    env = {}
    for e in container.get("env", []):
        source = e.get("valueFrom", {})
        ref = source.get("secretKeyRef") or source.get("configMapKeyRef")
        if "value" in e:
            env[e["name"]] = e["value"]
        elif ref:
            env[e["name"]] = held.get((ref["name"], ref["key"]), "")
        elif "fieldRef" in source:
            env[e["name"]] = "nexus-mcp-0"
    return env


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
    """The rendered Deployment's pod run from the image: its init container
    (`serve --check` with the pod's own arguments, files and user) must
    hold, then its container serves, its probes asked, then SIGTERM."""
    spec, container = container_of(objects)
    process = {**image.process, "user": user_of(spec, container, image.process["user"])}
    if process["user"]["uid"] == 0 and spec.get("securityContext", {}).get("runAsNonRoot"):
        return ["runAsNonRoot, and the container would run as root: the kubelet refuses it"]
    failures = checked_before_traffic(image, objects, process)
    if failures:
        return failures
    env, files = env_of(container, image.held), laid_out(objects, image.held, container)
    pod = Pod(image.rootfs, process, container["args"], env, files)
    try:
        pod.start()
        failures = probes_unanswered(pod, container)
        failures += [why for why in [pod.stop_failure()] if why]
        return failures + ([pod.said()] if failures else [])
    finally:
        pod.close()


def checked_before_traffic(image, objects, process):
    """The init container and `helm test`'s pod each run `serve --check`
    with exactly the container's arguments, environment and mounts; the
    init container, run as the kubelet runs it, holds."""
    spec, container = container_of(objects)
    inits = spec.get("initContainers", [])
    tests = [o["spec"]["containers"][0] for o in objects if o["kind"] == "Pod"
             and o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    failures = []
    for what, checking in [("the init container", inits[0] if inits else None),
                           ("helm test's pod", tests[0] if tests else None)]:
        same = checking and checking["args"] == container["args"] + ["--check"] and all(
            checking.get(k) == container.get(k) for k in ("env", "volumeMounts", "image"))
        if not same:
            failures.append(f"{what} does not run serve --check as the pod runs serve")
    if failures:
        return failures
    init = inits[0]
    pod = Pod(image.rootfs, process, init["args"], env_of(init, image.held),
              laid_out(objects, image.held, init))
    try:
        code, said = pod.run()
    finally:
        pod.close()
    if code != 0 or "the configuration holds" not in said:
        return [f"the init container's serve --check exited {code}: {said}"]
    return []


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


def golden_unmet(chart, name, values, update=False):
    """The render of `values` is the golden file `name`'s (or, with
    `update`, becomes it: review the diff)."""
    text = rendered(chart, values)[1]
    golden = os.path.join(GOLDEN, f"{name}.yaml")
    if update:
        with open(golden, "w") as f:
            f.write(text)
    elif not os.path.exists(golden) or open(golden).read() != text:
        return [f"the render differs from {golden} (--update, then review the diff)"]
    return []


def pod_unmet(chart, name, values, image, fake_program):
    """The render's pod run from the image as the kubelet would run it,
    against the fake issuer in the provider's shape, the fake Gateway and
    the redis-server here (the addresses a test cannot reach, changed)."""
    fake = Fake(fake_program, *SHAPES.get(name, []))
    try:
        for client in ("LOGIN_CLIENT_ID", "LOGIN_CLIENT_ID.apps.googleusercontent.com",
                       "nexus-mcp-connect"):
            fake.control("/_fake/clients", {
                "client_id": client, "redirect_uri": "https://mcp.example.com/connect/callback",
                "client_secret": image.held[("nexus-mcp-login", "client-secret")]})
        serve = {**values["serve"], "issuer": fake.issuer}
        if serve.get("store", {}).get("url"):
            serve["store"] = {**serve["store"], "url": f"redis://127.0.0.1:{REDIS_PORT}"}
        faked = {**values, "gateway": {**values["gateway"], "url": fake.gateway}, "serve": serve}
        if values.get("telemetry", {}).get("otlpEndpoint"):
            # The fake Gateway is an OTLP/HTTP receiver too.
            faked["telemetry"] = {**values["telemetry"], "otlpEndpoint": fake.gateway}
        return run_as_pod(image, rendered(chart, faked)[0], fake)
    finally:
        fake.close()


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


def main(*flags):
    """`--update`: each values file's render written as its golden file."""
    if "--update" not in flags:
        sys.exit(__doc__)
    for name, values in values_files().items():
        golden_unmet(CHART, name, values, update=True)
        print(f"{name}: written")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
