"""The Istio manifests (envoy/istio/, rendered by scripts/render-istio) and the OCI image
(scripts/build-oci-image). No Kubernetes here, so: every manifest is checked field by field
against Istio's own CRD schemas; the Envoy part of the EnvoyFilter runs in a real Envoy,
delivered by ECDS from a file as istio-agent would hand it over (module fetched, remote code
rewritten to a local file); the image is checked against the OCI image-layout spec and
pushed to, and read back from, a real registry (Debian's docker-registry) with skopeo."""
import copy
import gzip
import hashlib
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import tarfile

import httpx
import pytest
import yaml

from deployment import chat, start_gateway, trap_module
from harness import DEMO_CONFIG, ROOT, TEAM_ABC_KEY, WASM, envoy_stats, free_port, wait_until

ISTIO = ROOT / "envoy/istio"
SCHEMAS = json.loads((pathlib.Path(__file__).parent / "data/istio-crd-schemas.json").read_text())["schemas"]
WASM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"


def manifests() -> list[dict]:
    docs = []
    for path in sorted(ISTIO.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def by_kind(kind: str) -> list[dict]:
    return [d for d in manifests() if d["kind"] == kind]


def named(kind: str, name: str) -> dict:
    [doc] = [d for d in by_kind(kind) if d["metadata"]["name"] == name]
    return doc


def test_manifests_are_current(tmp_path):
    subprocess.run([str(ROOT / "scripts/render-istio"), "--out", str(tmp_path)], check=True, capture_output=True)
    for path in ISTIO.glob("*.yaml"):
        assert path.read_text() == (tmp_path / path.name).read_text(), f"run scripts/render-istio ({path.name})"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in ISTIO.glob("*.yaml"))


def check(schema: dict, value, path: str, errors: list[str]) -> None:
    """A strict subset of Kubernetes' structural-schema validation: types, enums, patterns,
    lengths, and, unlike the API server (which prunes them silently), unknown fields."""
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)):
            errors.append(f"{path}: not an int or string")
        return
    t = schema.get("type")
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}
    if t and not isinstance(value, kinds[t]) or (t in ("integer", "number") and isinstance(value, bool)):
        errors.append(f"{path}: expected {t}, got {type(value).__name__}")
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) > schema.get("maxLength", 1 << 30) or len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: length out of bounds")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value > schema.get("maximum", float("inf")) or value < schema.get("minimum", float("-inf")):
            errors.append(f"{path}: {value} out of bounds")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", 1 << 30):
            errors.append(f"{path}: too many items")
        for i, item in enumerate(value):
            check(schema.get("items", {}), item, f"{path}[{i}]", errors)
    if isinstance(value, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for req in schema.get("required", []):
            if req not in value:
                errors.append(f"{path}: missing {req}")
        for k, v in value.items():
            if props is not None and k in props:
                check(props[k], v, f"{path}.{k}", errors)
            elif isinstance(extra, dict):
                check(extra, v, f"{path}.{k}", errors)
            elif props is not None:
                errors.append(f"{path}: unknown field {k!r}")


def test_manifests_match_istio_crd_schemas():
    checked = set()
    for doc in manifests():
        group_version = doc["apiVersion"]
        if "istio.io" not in group_version:
            continue
        key = f"{group_version}/{doc['kind']}"
        assert key in SCHEMAS, f"no schema for {key}"
        errors: list[str] = []
        check(SCHEMAS[key], {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")},
              doc["kind"], errors)
        assert not errors, f"{doc['kind']} {doc['metadata']['name']}:\n" + "\n".join(errors)
        checked.add(doc["kind"])
    assert checked == {"WasmPlugin", "EnvoyFilter", "Gateway", "VirtualService", "ServiceEntry", "DestinationRule"}


def test_plugin_configuration_is_the_demo_configuration():
    demo = json.loads(DEMO_CONFIG.read_text())
    env_keys = sorted({p["api_key_env"] for p in demo["providers"]})
    [plugin] = by_kind("WasmPlugin")
    spec = plugin["spec"]
    assert spec["pluginConfig"] == demo
    assert spec["failStrategy"] == "FAIL_RELOAD" and spec["phase"] and spec["type"] == "HTTP"
    assert sorted(e["name"] for e in spec["vmConfig"]["env"]) == env_keys
    assert all(e["valueFrom"] == "HOST" for e in spec["vmConfig"]["env"])
    assert re.fullmatch(r"[0-9a-f]{64}", spec["sha256"]) and spec["url"].startswith("oci://")

    [envoy_filter] = by_kind("EnvoyFilter")
    [ext] = [p for p in envoy_filter["spec"]["configPatches"] if p["applyTo"] == "EXTENSION_CONFIG"]
    config = ext["patch"]["value"]["typed_config"]["config"]
    assert json.loads(config["configuration"]["value"]) == demo
    assert config["allow_on_headers_stop_iteration"] is True
    assert config["failure_policy"] == "FAIL_RELOAD"
    assert sorted(config["vm_config"]["environment_variables"]["host_env_keys"]) == env_keys

    # The rate limit service reads the same configuration.
    service_config = named("ConfigMap", "genai-ratelimit-config")["data"]["filter-config.json"]
    assert json.loads(service_config) == demo

    deployment = named("Deployment", "genai-gateway")
    pod = deployment["spec"]["template"]
    [proxy] = pod["spec"]["containers"]
    assert sorted(e["name"] for e in proxy["env"]) == env_keys
    assert all("secretKeyRef" in e["valueFrom"] for e in proxy["env"]), "provider keys only from a Secret"
    proxy_config = yaml.safe_load(pod["metadata"]["annotations"]["proxy.istio.io/config"])
    assert proxy_config["proxyStatsMatcher"]["inclusionPrefixes"] == ["wasmcustom.genai_"]


def test_stats_matcher_and_tags_cover_the_filter_metrics(gateway, mock):
    """Every stat the filter defines passes the proxyStatsMatcher prefix, and the bootstrap
    override carries exactly the tag rules of envoy/gateway.yaml (so the same labels)."""
    assert chat(gateway.url, TEAM_ABC_KEY).status_code == 200
    names = httpx.get(f"{gateway.admin}/stats", params={"filter": "^wasmcustom\\."}).text.splitlines()
    assert names and all(n.startswith("wasmcustom.genai_") for n in names)
    cm = named("ConfigMap", "genai-gateway-stats")
    bootstrap = json.loads(cm["data"]["custom_bootstrap.json"])
    rendered = yaml.safe_load(gateway.config_path.read_text())
    assert bootstrap["stats_config"]["stats_tags"] == rendered["stats_config"]["stats_tags"]
    assert envoy_stats(gateway), "tagged stats are exported"


class Ecds:
    """The gateway's genai filter delivered by ECDS from a file, as the EnvoyFilter's two
    patches make Istio deliver it: the EXTENSION_CONFIG resource (remote code rewritten to a
    local file, which is what istio-agent does after the pull) and the HTTP_FILTER entries."""

    def __init__(self, directory: pathlib.Path):
        [ef] = by_kind("EnvoyFilter")
        patches = ef["spec"]["configPatches"]
        self.resource = [p for p in patches if p["applyTo"] == "EXTENSION_CONFIG"][0]["patch"]["value"]
        # The genai filter and the team check; the rate limit filters have their own test
        # (they need the rate limit service's cluster).
        self.filters = [p["patch"]["value"] for p in patches if p["applyTo"] == "HTTP_FILTER"
                        and not p["patch"]["value"]["name"].startswith("envoy.filters.http.ratelimit.")]
        self.path = directory / "genai-ecds.yaml"
        self.version = 0
        self.push(None)

    def patch_envoy_config(self, text: str) -> str:
        cfg = yaml.safe_load(text)
        hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        filters = copy.deepcopy(self.filters)
        for f in filters:
            if "config_discovery" in f:
                f["config_discovery"]["config_source"] = {
                    "path_config_source": {"path": str(self.path)}, "resource_api_version": "V3"}
        router = hcm["http_filters"][-1]
        assert router["name"] == "envoy.filters.http.router"
        hcm["http_filters"] = [*filters, router]
        cfg["node"] = {"id": "genai-gateway-test", "cluster": "genai-gateway"}  # xDS needs a node
        return json.dumps(cfg)

    def push(self, module: pathlib.Path | None, **config_changes) -> None:
        """Writes the ECDS file (atomically, as Envoy watches it): no resource at all (the
        module could not be fetched), or the EnvoyFilter's resource with `module` local."""
        self.version += 1
        resources = []
        if module is not None:
            res = copy.deepcopy(self.resource)
            config = res["typed_config"]["config"]
            config["vm_config"]["code"] = {"local": {"filename": str(module)}}
            config.update(config_changes)
            resources.append({"@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig", **res})
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version_info": str(self.version), "resources": resources}))
        os.replace(tmp, self.path)


def reloads(gw) -> int:
    text = httpx.get(f"{gw.admin}/stats", params={"filter": "extension_config_discovery.*config_reload$"}).text
    return sum(int(line.rsplit(": ", 1)[1]) for line in text.splitlines() if ": " in line)


def test_envoyfilter_in_envoy_install_upgrade_rollback(tmp_path):
    ecds = Ecds(tmp_path)
    gw = start_gateway(tmp_path / "gw", patch=ecds.patch_envoy_config)

    def push_and_wait(module, **changes):
        before = reloads(gw)
        ecds.push(module, **changes)
        wait_until(lambda: reloads(gw) > before, 60, "Envoy to load the ECDS update")

    try:
        # 1. The module is not there (could not be fetched): the default config, a deny-all
        #    RBAC, answers. Nothing reaches a provider.
        r = chat(gw.url, TEAM_ABC_KEY)
        assert r.status_code == 403 and r.text == "RBAC: access denied"
        assert gw.mock.requests() == []

        # 2. What a WasmPlugin makes: the same filter without allow_on_headers_stop_iteration.
        #    Envoy never resumes the held request: it stalls, and reaches no provider.
        push_and_wait(WASM, allow_on_headers_stop_iteration=False)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {TEAM_ABC_KEY}"},
                       json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, timeout=3)
        assert gw.mock.requests() == []

        # 3. Install: the EnvoyFilter's configuration as is.
        push_and_wait(WASM)
        r = chat(gw.url, TEAM_ABC_KEY, model="default-chat")
        assert r.status_code == 200, r.text
        [received] = gw.mock.requests()
        assert '"model":"gpt-4o-2024-08-06"' in received["body"].replace(" ", "")

        # 4. Upgrade, without restarting Envoy: a new module (here the test-trap build, whose
        #    marker header proves which module runs).
        gw.mock.clear()
        push_and_wait(trap_module())
        assert chat(gw.url, TEAM_ABC_KEY, headers={"x-genai-test-trap": "1"}).status_code == 503
        wait_until(lambda: chat(gw.url, TEAM_ABC_KEY).status_code == 200, 20, "FAIL_RELOAD to bring the VM back")

        # 5. Roll back: the previous configuration again.
        push_and_wait(WASM)
        assert chat(gw.url, TEAM_ABC_KEY, headers={"x-genai-test-trap": "1"}).status_code == 200
        assert all("x-genai-test-trap" not in r["headers"] for r in gw.mock.requests())
    finally:
        gw.stop()


def istio_rate_limits(text: str, ratelimit_grpc_cluster: str = "genai_ratelimit") -> str:
    """A rendered gateway configuration (scripts/render-envoy --ratelimit) with its fleet-wide
    limits replaced by what the EnvoyFilter patches in: its two rate limit filters (HTTP_FILTER),
    each route's descriptors (HTTP_ROUTE, MERGE, by the VirtualService route's name), the
    VirtualService's header removal, and the service's cluster under Istio's name for it."""
    [ef] = by_kind("EnvoyFilter")
    patches = ef["spec"]["configPatches"]
    rl_filters = [p["patch"]["value"] for p in patches if p["applyTo"] == "HTTP_FILTER"
                  and p["patch"]["value"]["name"].startswith("envoy.filters.http.ratelimit.")]
    assert [f["name"] for f in rl_filters] == ["envoy.filters.http.ratelimit.genai_budgets",
                                               "envoy.filters.http.ratelimit.genai_rates"]
    route_patches = {p["match"]["routeConfiguration"]["vhost"]["route"]["name"]: p["patch"]
                     for p in patches if p["applyTo"] == "HTTP_ROUTE"}
    vs = named("VirtualService", "genai-providers")
    by_key = {r["match"][0]["headers"]["x-genai-upstream"]["exact"]: r for r in vs["spec"]["http"]}
    istio_cluster = rl_filters[0]["typed_config"]["rate_limit_service"]["grpc_service"]["envoy_grpc"]["cluster_name"]
    assert istio_cluster == "outbound|18081||genai-ratelimit.genai-gateway.svc.cluster.local"

    cfg = yaml.safe_load(text)
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    names = [f["name"] for f in hcm["http_filters"]]
    first = names.index("envoy.filters.http.ratelimit.genai_budgets")
    hcm["http_filters"][first:first + 2] = copy.deepcopy(rl_filters)
    patched = 0
    for route in hcm["route_config"]["virtual_hosts"][0]["routes"]:
        keys = [h["string_match"]["exact"] for h in route.get("match", {}).get("headers", [])
                if h["name"] == "x-genai-upstream"]
        key = keys[0] if keys else None
        if key is None or key == "genai-usage":
            continue
        vs_route = by_key[key]
        patch = route_patches[vs_route["name"]]
        assert patch["operation"] == "MERGE"
        per_filter = route.setdefault("typed_per_filter_config", {})
        for name in ("envoy.filters.http.ratelimit.genai_budgets", "envoy.filters.http.ratelimit.genai_rates"):
            per_filter.pop(name)
        per_filter.update(copy.deepcopy(patch["value"]["typed_per_filter_config"]))
        route["request_headers_to_remove"] = vs_route["headers"]["request"]["remove"]
        patched += 1
    assert patched == len(route_patches), "one HTTP_ROUTE patch per provider and fallback-chain route"
    for c in cfg["static_resources"]["clusters"]:
        if c["name"] == ratelimit_grpc_cluster:
            c["name"] = c["load_assignment"]["cluster_name"] = istio_cluster
    return json.dumps(cfg)


def test_envoyfilter_rate_limits_in_a_real_envoy(tmp_path):
    """The EnvoyFilter's rate limit filters and per-route descriptors, in a real Envoy in front
    of the real rate limit service and Redis, the service reading ratelimit.yaml's ConfigMap
    (here with team-abc at 2 requests a minute): two requests pass and are charged at stream
    end, the third is refused 429 rate_limited and never reaches the provider; no descriptor
    header reaches it either."""
    from harness import RateLimitService, Redis
    service_config = json.loads(named("ConfigMap", "genai-ratelimit-config")["data"]["filter-config.json"])
    [abc] = [t for t in service_config["teams"] if t["name"] == "team-abc"]
    abc["requests_per_minute"] = 2
    config_path = tmp_path / "service-config.json"
    config_path.write_text(json.dumps(service_config))
    redis = Redis(tmp_path / "redis").start()
    service = None
    gw = None
    try:
        service = RateLimitService(tmp_path, config_path, redis).start()
        gw = start_gateway(tmp_path / "gw", ratelimit=service, patch=istio_rate_limits)
        cfg = json.loads(gw.config_path.read_text())
        assert any(c["name"].startswith("outbound|18081||") for c in cfg["static_resources"]["clusters"])
        for _ in range(2):
            r = chat(gw.url, TEAM_ABC_KEY, model="default-chat")  # a fallback chain's route
            assert r.status_code == 200, r.text
        r = chat(gw.url, TEAM_ABC_KEY)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "rate_limited"
        assert len(gw.mock.requests()) == 2, "the refused request never reached the provider"
        assert all(not any(h.startswith("x-genai-rl-") for h in req["headers"]) for req in gw.mock.requests())
        usage = httpx.get(f"{gw.url}/v1/gateway/usage", headers={"authorization": f"Bearer {TEAM_ABC_KEY}"})
        assert usage.status_code == 200, usage.text
        u = usage.json()
        assert u["requests_per_minute"]["limit"] == 2
        # Charged at stream end through the EnvoyFilter's per-route hits_addend.
        wait_until(lambda: httpx.get(f"{gw.url}/v1/gateway/usage",
                                     headers={"authorization": f"Bearer {TEAM_ABC_KEY}"}).json()
                   ["spend"]["day"]["used_microdollars"] > 0, 10, "the stream-end charge")
    finally:
        if gw:
            gw.stop()
        if service:
            service.stop()
        redis.stop()


# --- the OCI image -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    out = tmp_path_factory.mktemp("oci") / "genai-filter"
    printed = subprocess.run([str(ROOT / "scripts/build-oci-image"), "--out", str(out), "--tag", "test"],
                             capture_output=True, text=True, check=True).stdout
    digest = re.search(r"manifest digest:\s+(sha256:[0-9a-f]{64})", printed).group(1)
    module_sha = re.search(r"module sha256:\s+([0-9a-f]{64})", printed).group(1)
    return out, digest, module_sha


def blob(layout: pathlib.Path, descriptor: dict) -> bytes:
    algo, hexdigest = descriptor["digest"].split(":")
    data = (layout / "blobs" / algo / hexdigest).read_bytes()
    assert hashlib.sha256(data).hexdigest() == hexdigest, f"blob {hexdigest} does not match its digest"
    assert len(data) == descriptor["size"]
    return data


def test_oci_image_layout_follows_the_wasm_image_spec(image, tmp_path):
    layout, digest, module_sha = image
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    assert index["schemaVersion"] == 2 and index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    [desc] = index["manifests"]
    assert desc["mediaType"] == "application/vnd.oci.image.manifest.v1+json" and desc["digest"] == digest
    assert desc["annotations"]["org.opencontainers.image.ref.name"] == "test"
    manifest = json.loads(blob(layout, desc))
    assert manifest["mediaType"] == desc["mediaType"] and manifest["schemaVersion"] == 2
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    config = json.loads(blob(layout, manifest["config"]))
    # The compat variant: exactly one layer, a gzipped tar holding plugin.wasm.
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    tar_bytes = gzip.decompress(blob(layout, layer))
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        [member] = tar.getmembers()
        assert member.name == "plugin.wasm" and member.isfile() and member.mtime == 0
        assert tar.extractfile(member).read() == WASM.read_bytes()
    assert module_sha == hashlib.sha256(WASM.read_bytes()).hexdigest()
    # Reproducible: a second build is byte-identical.
    again = tmp_path / "again"
    subprocess.run([str(ROOT / "scripts/build-oci-image"), "--out", str(again), "--tag", "test"],
                   check=True, capture_output=True)
    for f in layout.rglob("*"):
        if f.is_file():
            assert f.read_bytes() == (again / f.relative_to(layout)).read_bytes(), f


def test_oci_image_pushes_to_a_registry_and_pulls_back(image, tmp_path):
    """A real registry (Debian's docker-registry) and a real OCI client (skopeo): the pushed
    manifest keeps its digest, which is what a WasmPlugin's or EnvoyFilter's sha256 pins."""
    layout, digest, _ = image
    for tool in ("skopeo", "docker-registry"):
        assert shutil.which(tool), f"{tool} missing: scripts/test installs it"
    port = free_port()
    (tmp_path / "registry.yml").write_text(
        "version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: " + str(tmp_path / "data") + "}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n")
    registry = subprocess.Popen(["docker-registry", "serve", str(tmp_path / "registry.yml")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/v2/").status_code == 200, 15, "the registry")
        ref = f"127.0.0.1:{port}/genai/genai-filter:test"
        subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:test", f"docker://{ref}"],
                       check=True, capture_output=True, timeout=120)
        inspect = json.loads(subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
                                            check=True, capture_output=True, text=True).stdout)
        assert inspect["Digest"] == digest
        pulled = tmp_path / "pulled"
        by_digest = f"docker://{ref.rsplit(':', 1)[0]}@{digest}"
        subprocess.run(["skopeo", "copy", "--src-tls-verify=false", by_digest, f"oci:{pulled}:x"],
                       check=True, capture_output=True, timeout=120)
        index = json.loads((pulled / "index.json").read_text())
        manifest = json.loads(blob(pulled, index["manifests"][0]))
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(pulled, manifest["layers"][0])))) as tar:
            assert tar.extractfile("plugin.wasm").read() == WASM.read_bytes()
    finally:
        registry.terminate()
        registry.wait(10)
