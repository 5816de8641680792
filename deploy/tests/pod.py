"""A pod without a cluster: the image's root filesystem, unpacked by umoci,
with a container's files laid out in it as the kubelet mounts them, its
entrypoint run there under the image's user (chroot), with the container's
arguments and environment exactly; and the fake Gateway and issuer it asks.

Python's standard library only: the image and chart checks import it.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def isolate():
    """Runs this script again in a network namespace of its own, loopback
    alone, as a pod has its own: the ports the chart names (8080, 9090) are
    free there whatever this machine runs, and the fakes, the store and
    serve all meet inside it. Needs root, as chroot does."""
    if os.geteuid() != 0:
        sys.exit("needs root: a chroot and a network namespace of its own (run it with sudo)")
    if os.environ.get("NEXUS_POD_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    os.environ["NEXUS_POD_NETNS"] = "1"
    os.execvp("unshare", ["unshare", "--net", sys.executable, *sys.argv])


def unpack(layout, tag, into):
    """The image `layout:tag` unpacked into `into` (umoci): (rootfs, its
    runtime config: the entrypoint as `process.args`, the user, the env)."""
    shutil.rmtree(into, ignore_errors=True)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", into],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(into, "config.json")) as f:
        return os.path.join(into, "rootfs"), json.load(f)


class Pod:
    """A copy of `rootfs` (hard links: the image's files are not written)
    with `files` ({absolute path: (text, mode)}) laid out, where `process`
    (the runtime config's) runs `args` after its entrypoint with `env`."""

    def __init__(self, rootfs, process, args, env, files):
        self.dir = tempfile.mkdtemp(prefix="nexus-pod-")
        self.root = os.path.join(self.dir, "rootfs")
        subprocess.run(["cp", "-al", rootfs, self.root], check=True)
        user = process["user"]
        self.uid, self.gid = user.get("uid", 0), user.get("gid", 0)
        self.groups = user.get("additionalGids", [])
        for path, (text, mode) in files.items():
            target = os.path.join(self.root, path.lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as f:
                f.write(text)
            os.chmod(target, mode)
            # The kubelet gives a volume's files to the pod's fsGroup.
            os.chown(target, 0, (self.groups or [self.gid])[0])
        self.entrypoint = process["args"]
        self.command = self._entered(self.entrypoint + list(args))
        self.env = dict(e.split("=", 1) for e in process.get("env", []))
        self.env.update(env)
        self.process = None

    def _entered(self, command):
        """`command` run inside the copy as the image's user."""
        groups = [f"--groups={','.join(map(str, self.groups))}"] if self.groups else []
        return ["chroot", f"--userspec={self.uid}:{self.gid}", *groups, self.root] + command

    def run(self, *more, timeout=60):
        """The entrypoint run with the pod's arguments and `more` to its
        end: (exit code, stderr)."""
        code, _, said = self.run_only(self.command + list(more), timeout)
        return code, said

    def run_only(self, command, timeout=60):
        """`command` (from `entered`) run to its end: (code, stdout, stderr)."""
        done = subprocess.run(command, env=self.env, timeout=timeout,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        return done.returncode, done.stdout, done.stderr

    def entered(self, *args):
        """The entrypoint with `args` instead of the pod's."""
        return self._entered(self.entrypoint + list(args))

    def unchecked(self):
        """Why `serve --check` with the pod's arguments does not hold, or
        None when it does."""
        code, said = self.run("--check")
        if code == 0 and "the configuration holds" in said:
            return None
        return f"serve --check exited {code}: {said}"

    def stop_failure(self):
        """SIGTERM: why serve did not stop cleanly, or None."""
        code = self.stop()
        return None if code == 0 else f"SIGTERM: serve exited {code}, not 0\n{self.said()}"

    def start(self):
        self.log = open(os.path.join(self.dir, "stderr"), "w+")
        self.process = subprocess.Popen(self.command, env=self.env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=self.log)
        return self

    def said(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self, grace=20):
        """SIGTERM, as the kubelet sends after preStop: the exit code."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return "killed"

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def get(url, timeout=5):
    """(status, body) of a GET; a refused connection is (None, why)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def wait_for(url, pod, want=200, within=60):
    """Polls `url` until it answers `want` (the event waited for), the pod
    exits, or `within` seconds pass: (status, body) of the last answer."""
    deadline = time.monotonic() + within
    while True:
        status, body = get(url)
        if status == want or time.monotonic() > deadline:
            return status, body
        if pod.process.poll() is not None:
            return status, f"{body} (serve exited {pod.process.returncode})"
        time.sleep(0.1)


class Fake:
    """`nexus-gateway-fake --issuer` (and `flags`), its URLs read from the
    lines it prints: gateway, upstream, issuer."""

    def __init__(self, program, *flags):
        self.process = subprocess.Popen([program, "--issuer", *flags], stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        urls = {}
        while len(urls) < 3:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"nexus-gateway-fake {' '.join(flags)} did not start")
            name, _, value = line.strip().partition("=")
            urls[name] = value
        self.gateway, self.upstream, self.issuer = (
            urls["NEXUS_GATEWAY_URL"], urls["UPSTREAM_URL"], urls["ISSUER_URL"])

    def control(self, path, body):
        """POST `body` to the issuer's control API (`/_fake/…`, under
        the issuer's path)."""
        return self._posted(self.issuer.rstrip("/") + path, body)

    def control_gateway(self, path, body):
        """POST `body` to the Gateway's control API (`/_fake/…`)."""
        return self._posted(self.gateway + path, body)

    def _posted(self, url, body):
        request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.read()

    def close(self):
        self.process.terminate()
        self.process.wait()
