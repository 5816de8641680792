"""The Helm chart's promises, one test each, for every values file in its
`ci/` (the checks are `chart_check.py`'s): run as root (a chroot) in a
network namespace of its own, as a pod has (the ports the chart names are
free there whatever the machine runs), as `.ci/run` runs it:

    NEXUS_POD_NETNS=1 NEXUS_IMAGE_LAYOUT=target/image/oci NEXUS_IMAGE_TAG=0.12.0 \\
    NEXUS_FAKE_PROGRAM=target/debug/nexus-gateway-fake \\
    unshare --net python -m pytest deploy/tests/test_chart.py

`test_a_fault_breaks_the_promise_it_is_for` makes each promise fail once,
on a copy of the chart with the fault made: the table names the promise
that must fail, not the words it says.
"""

import os
import tempfile

import pytest

import chart_check as c
from pod import isolate, unpack

FILES = c.values_files()
NAMES = sorted(FILES)


@pytest.fixture(scope="session")
def image():
    """The image unpacked, what the make-believe cluster holds (the Secrets'
    and ConfigMaps' keys), and the program's secret variables; a real
    redis-server (with a password) for the store a values file names."""
    if os.environ.get("NEXUS_POD_NETNS") != "1":
        pytest.exit("run in a network namespace of its own: NEXUS_POD_NETNS=1 unshare --net …")
    isolate()
    store = c.redis(c.REDIS_PORT)
    layout, tag = os.environ["NEXUS_IMAGE_LAYOUT"], os.environ["NEXUS_IMAGE_TAG"]
    rootfs, config = unpack(layout, tag, tempfile.mkdtemp(prefix="nexus-image-"))
    process = config["process"]
    held = c.secrets_held(f"redis://:chart-check-redis@127.0.0.1:{c.REDIS_PORT}")
    yield c.Image(rootfs, process, held, c.secret_variables(rootfs, process))
    store.terminate()


@pytest.fixture(scope="session")
def fake_program():
    return os.environ["NEXUS_FAKE_PROGRAM"]


# Each promise of one values file: asserts it holds for `chart`.

def the_chart_lints_strict(chart, name, values, image, fake):
    assert not c.linted(chart, values)


def the_render_is_its_golden_file(chart, name, values, image, fake):
    assert not c.golden_unmet(chart, name, values)


def each_object_is_valid_for_both_kubernetes(chart, name, values, image, fake):
    assert not c.validated(c.rendered(chart, values)[0])


def no_secret_value_is_in_the_render(chart, name, values, image, fake):
    objects, text = c.rendered(chart, values)
    assert not c.secrets_shown(objects, text, image)


def a_changed_policy_rolls_every_replica(chart, name, values, image, fake):
    assert not c.rolls_unmet(chart, values, c.rendered(chart, values)[0])


def the_pod_checks_before_traffic_then_serves_and_stops_cleanly(chart, name, values, image, fake):
    assert not c.pod_unmet(chart, name, values, image, fake)


PROMISES = [the_chart_lints_strict, the_render_is_its_golden_file,
            each_object_is_valid_for_both_kubernetes, no_secret_value_is_in_the_render,
            a_changed_policy_rolls_every_replica,
            the_pod_checks_before_traffic_then_serves_and_stops_cleanly]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("promise", PROMISES, ids=lambda p: p.__name__)
def test_each_values_file(promise, name, image, fake_program):
    promise(c.CHART, name, FILES[name], image, fake_program)


def test_each_mistake_is_refused_in_the_charts_words_without_its_secret():
    assert not c.refusals_unmet(c.CHART)


def every_secret_variable_is_refused(chart, name, values, image, fake):
    assert not c.secret_variables_unrefused(image.variables, chart)


def test_each_secret_variable_of_the_program_is_refused_in_extra_env(image):
    every_secret_variable_is_refused(c.CHART, "defaults", FILES["defaults"], image, None)


def test_the_guides_least_values_are_the_defaults_file():
    assert not c.guide_unmet(FILES)


def refusing_the_proxy_without_a_store(chart, name, values, image, fake):
    assert not c.refusals_unmet(chart)


# Each fault, on a copy of the chart (file, old, new) or in the values,
# and the promise it breaks: (what, the edit or None, the values' change,
# the values file, the promise).
FAULTS = [
    ("a wrong flag", ("templates/_helpers.tpl", '(list "subject-claim"', '(list "subject-claims"'),
     {}, "entra", the_pod_checks_before_traffic_then_serves_and_stops_cleanly),
    ("a probe on a path serve does not answer",
     ("templates/deployment.yaml", "path: /readyz", "path: /ready"), {}, "defaults",
     the_pod_checks_before_traffic_then_serves_and_stops_cleanly),
    ("a Secret's value in a render", None, {"podAnnotations": {"note": "sk_chart_check_gateway_key"}},
     "defaults", no_secret_value_is_in_the_render),
    ("a secret variable given a value by a template",
     ("templates/_helpers.tpl", "- name: NEXUS_GATEWAY_URL\n",
      "- name: NEXUS_MCP_STORE\n  value: redis://x\n- name: NEXUS_GATEWAY_URL\n"),
     {}, "defaults", no_secret_value_is_in_the_render),
    ("an init container that checks other arguments",
     ("templates/deployment.yaml", "            - --check\n",
      "            - --check\n            - --allow-write\n"),
     {}, "defaults", the_pod_checks_before_traffic_then_serves_and_stops_cleanly),
    ("a secret variable the chart lets through in extraEnv",
     ("templates/_helpers.tpl", " OTEL_EXPORTER_OTLP_HEADERS\n{{- end", "\n{{- end"),
     {}, "defaults", every_secret_variable_is_refused),
    ("a refusal's words changed", ("templates/_helpers.tpl", "needs serve.store: without",
                                   "needs a store: without"),
     {}, "defaults", refusing_the_proxy_without_a_store),
    ("a policy change that rolls nothing",
     ("templates/deployment.yaml", "checksum/files: {{ $files | sha256sum }}", "checksum/files: fixed"),
     {}, "entra", a_changed_policy_rolls_every_replica),
    ("an invalid field", ("templates/_helpers.tpl", "readOnlyRootFilesystem", "readOnlyRootFileSystem"),
     {}, "defaults", each_object_is_valid_for_both_kubernetes),
    ("a render that drifted from its golden file",
     ("templates/service.yaml", "kind: Service", "kind: Service\n# drifted"),
     {}, "defaults", the_render_is_its_golden_file),
]


@pytest.mark.parametrize("what, edit, change, name, promise", FAULTS, ids=[f[0] for f in FAULTS])
def test_a_fault_breaks_the_promise_it_is_for(what, edit, change, name, promise, image, fake_program):
    chart = c.mutated(edit) if edit else c.CHART
    with pytest.raises(AssertionError):
        promise(chart, name, c.merged(FILES[name], change), image, fake_program)
