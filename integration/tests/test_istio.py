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
from harness import DEMO_CONFIG, ROOT, TEAM_ABC_KEY, TEAM_XYZ_KEY, WASM, envoy_stats, free_port, wait_until

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
    assert checked == {"WasmPlugin", "EnvoyFilter", "Gateway", "VirtualService", "ServiceEntry", "DestinationRule",
                       "AuthorizationPolicy"}


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


def test_only_the_gateway_reaches_the_rate_limit_service_and_only_the_service_redis():
    """The service's HTTP port trusts the x-genai-rl-team header and its gRPC port charges
    whichever team a caller names, so nothing but the gateway may call it, and nothing but the
    service may reach Redis: ALLOW AuthorizationPolicies on the workloads' mTLS identities (the
    Deployments' ServiceAccounts), on injected pods, the metrics and health check excepted."""
    ns = "genai-gateway"
    gateway = named("Deployment", "genai-gateway")["spec"]["template"]["spec"]["serviceAccountName"]
    service = named("Deployment", "genai-ratelimit")
    service_sa = service["spec"]["template"]["spec"]["serviceAccountName"]
    redis = named("StatefulSet", "genai-redis")
    accounts = {d["metadata"]["name"] for d in by_kind("ServiceAccount")}
    assert {gateway, service_sa} <= accounts and gateway != service_sa
    for workload, policy_name, caller in ((service, "genai-ratelimit", gateway), (redis, "genai-redis", service_sa)):
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert pod_labels["sidecar.istio.io/inject"] == "true", "identities need the mesh's mTLS"
        policy = named("AuthorizationPolicy", policy_name)["spec"]
        assert policy["action"] == "ALLOW"
        assert policy["selector"]["matchLabels"] == workload["spec"]["selector"]["matchLabels"]
        assert policy["selector"]["matchLabels"].items() <= pod_labels.items()
        sources = [src for rule in policy["rules"] for src in rule.get("from", [])]
        assert sources == [{"source": {"principals": [f"*/ns/{ns}/sa/{caller}"]}}]
        for rule in policy["rules"]:
            assert "from" in rule or "to" in rule and policy_name == "genai-ratelimit"
    [open_rule] = [r for r in named("AuthorizationPolicy", "genai-ratelimit")["spec"]["rules"] if "from" not in r]
    [op] = [t["operation"] for t in open_rule["to"]]
    [http_port] = [p["containerPort"] for p in service["spec"]["template"]["spec"]["containers"][0]["ports"]
                   if p["name"] == "http"]
    assert op == {"ports": [str(http_port)], "methods": ["GET"], "paths": ["/metrics", "/healthz"]}


def test_provider_routes_never_retry():
    """As on the local gateway, a generation request is sent once: without `retries` Istio
    would retry it twice on connection failures and 503s (istiod's default retry policy)."""
    provider_hosts = {h for d in by_kind("ServiceEntry") for h in d["spec"]["hosts"]}
    routes = named("VirtualService", "genai-providers")["spec"]["http"]
    to_providers = [r for r in routes if r["route"][0]["destination"]["host"] in provider_hosts]
    assert len(to_providers) == len(routes) - 1  # all but the usage endpoint's
    assert all(r["retries"] == {"attempts": 0} for r in to_providers)


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


# --- fleet-wide budgets and rate limits, as the Istio gateway runs them ---------------------

RL_HOST = "genai-ratelimit.genai-gateway.svc.cluster.local"
HTTP2 = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    "explicit_http_config": {"http2_protocol_options": {}}}}
PRICE_IN, PRICE_OUT = 100.0, 1000.0  # per million tokens: a few requests spend a dollar


def istio_limits_config(path: pathlib.Path) -> pathlib.Path:
    """The demo configuration as a mesh admin would tighten it: team-abc at 3 requests a minute,
    team-xyz at $1 a day, gpt-4o-mini priced so that three requests overrun that dollar."""
    c = json.loads(DEMO_CONFIG.read_text())
    c["rate_limits"]["timeout_ms"] = 200  # a shared 2-core machine; the shipped 50 ms is for a cluster
    teams = {t["name"]: t for t in c["teams"]}
    teams["team-abc"]["requests_per_minute"] = 3
    teams["team-xyz"]["daily_budget_dollars"] = 1
    [mini] = [m for m in c["models"] if m["name"] == "gpt-4o-mini"]
    mini["pricing"] = {"input_per_million": PRICE_IN, "output_per_million": PRICE_OUT}
    path.write_text(json.dumps(c, indent=1))
    return path


def microdollars(prompt: int, completion: int) -> int:
    """As the filter prices a response (filter/policy/src/pricing.rs)."""
    return (prompt * int(PRICE_IN * 1e6) + completion * int(PRICE_OUT * 1e6) + 500_000) // 1_000_000


class IstioGateway:
    """What istiod makes of the rendered manifests for the genai-gateway pod, as a static Envoy
    configuration: the listener's HTTP filters are the EnvoyFilter's HTTP_FILTER patches in
    order before the router (the genai filter by ECDS from a file, as istio-agent hands it
    over; the team check; both rate limit filters); the routes are the VirtualService's (by
    name, header match, authority rewrite, retries, timeout, header removal), each then given
    its HTTP_ROUTE MERGE patch by route name; the clusters carry Istio's outbound names, the
    service's gRPC one speaking HTTP/2 as Istio does for a port named `grpc`, with no cluster
    of the local configuration left. Kept from the local rendering: the listen and admin
    addresses, the stats configuration (stats-bootstrap.yaml's) and the access log. Not
    reproduced: the mTLS Gateway, TLS origination to providers (every provider host is the
    mock), Istio's own filters (metadata exchange, stats)."""

    def __init__(self, manifests_dir: pathlib.Path, workdir: pathlib.Path, service):
        docs = [d for path in sorted(manifests_dir.glob("*.yaml")) for d in yaml.safe_load_all(path.read_text()) if d]
        [ef] = [d for d in docs if d["kind"] == "EnvoyFilter"]
        [self.vs] = [d for d in docs if d["kind"] == "VirtualService"]
        self.patches = ef["spec"]["configPatches"]
        self.service = service
        self.ecds_path = workdir / "genai-ecds.json"
        [ext] = [p for p in self.patches if p["applyTo"] == "EXTENSION_CONFIG"]
        res = copy.deepcopy(ext["patch"]["value"])
        res["typed_config"]["config"]["vm_config"]["code"] = {"local": {"filename": str(WASM)}}
        workdir.mkdir(parents=True, exist_ok=True)
        self.ecds_path.write_text(json.dumps({"version_info": "1", "resources": [
            {"@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig", **res}]}))

    def http_filters(self) -> list[dict]:
        out = []
        for p in self.patches:
            if p["applyTo"] != "HTTP_FILTER":
                continue
            assert p["patch"]["operation"] == "INSERT_BEFORE"
            assert p["match"]["listener"]["filterChain"]["filter"]["subFilter"]["name"] == "envoy.filters.http.router"
            f = copy.deepcopy(p["patch"]["value"])
            if "config_discovery" in f:
                f["config_discovery"]["config_source"] = {
                    "path_config_source": {"path": str(self.ecds_path)}, "resource_api_version": "V3"}
            out.append(f)
        return [*out, {"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]

    def routes(self) -> tuple[list[dict], set[tuple[str, int]]]:
        routes, destinations = [], set()
        for r in self.vs["spec"]["http"]:
            [match] = r["match"]
            [dest] = r["route"]
            host, port = dest["destination"]["host"], dest["destination"]["port"]["number"]
            destinations.add((host, port))
            action = {"cluster": f"outbound|{port}||{host}", "timeout": r["timeout"]}
            if "rewrite" in r:
                action["host_rewrite_literal"] = r["rewrite"]["authority"]
            # Istio's default without `retries`: 2 retries on connection failures and 503s;
            # `attempts: 0` makes istiod leave the retry policy out.
            retries = r.get("retries")
            if retries is None:
                action["retry_policy"] = {"num_retries": 2, "retriable_status_codes": [503], "retry_on":
                                          "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"}
            elif retries["attempts"] > 0:
                action["retry_policy"] = {"num_retries": retries["attempts"]}
            routes.append({
                "name": r["name"],
                "match": {"prefix": "/", "headers": [{"name": h, "string_match": {"exact": m["exact"]}}
                                                     for h, m in match["headers"].items()]},
                "route": action,
                "request_headers_to_remove": r["headers"]["request"]["remove"],
            })
        by_name = {r["name"]: r for r in routes}
        for p in self.patches:
            if p["applyTo"] != "HTTP_ROUTE":
                continue
            assert p["patch"]["operation"] == "MERGE" and p["match"]["context"] == "GATEWAY"
            name = p["match"]["routeConfiguration"]["vhost"]["route"]["name"]
            assert name in by_name, f"HTTP_ROUTE patch for {name}: no VirtualService route of that name"
            value = p["patch"]["value"]
            assert set(value) == {"typed_per_filter_config"}
            per_filter = by_name[name].setdefault("typed_per_filter_config", {})
            assert not set(per_filter) & set(value["typed_per_filter_config"])
            per_filter.update(copy.deepcopy(value["typed_per_filter_config"]))  # a map: MERGE adds its entries
        return routes, destinations

    def patch(self, text: str) -> str:
        local = yaml.safe_load(text)
        listener = local["static_resources"]["listeners"][0]
        [provider] = [c for c in local["static_resources"]["clusters"] if c["name"] == "openai"]
        mock = provider["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
        local_hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        routes, destinations = self.routes()
        hcm = {
            "@type": local_hcm["@type"],
            "stat_prefix": "outbound_0.0.0.0_10443",
            "access_log": local_hcm["access_log"],
            "route_config": {"name": "https.443.https-mtls.genai-gateway.genai-gateway",
                             "virtual_hosts": [{"name": "*:443", "domains": ["*"], "routes": routes}]},
            "http_filters": self.http_filters(),
        }
        for p in self.patches:
            if p["applyTo"] == "NETWORK_FILTER":
                assert p["patch"]["operation"] == "MERGE"
                assert p["match"]["listener"]["filterChain"]["filter"]["name"] == "envoy.filters.network.http_connection_manager"
                value = copy.deepcopy(p["patch"]["value"]["typed_config"])
                assert value.pop("@type") == hcm["@type"] and not set(value) & set(hcm)
                hcm.update(value)
        clusters = []
        for host, port in sorted(destinations):
            if host == RL_HOST:
                assert port == 18082, "the usage endpoint: the service's http port"
                address = ("127.0.0.1", self.service.http_port)
            else:
                address = (mock["endpoint"]["address"]["socket_address"]["address"],
                           mock["endpoint"]["address"]["socket_address"]["port_value"])
            clusters.append(self.cluster(f"outbound|{port}||{host}", address))
        clusters.append(self.cluster(f"outbound|18081||{RL_HOST}", ("127.0.0.1", self.service.grpc_port), HTTP2))
        cfg = {
            "node": {"id": "router~10.0.0.1~genai-gateway-0.genai-gateway~genai-gateway.svc.cluster.local",
                     "cluster": "genai-gateway.genai-gateway"},
            "admin": local["admin"],
            "stats_config": local["stats_config"],
            "static_resources": {
                "listeners": [{"name": "0.0.0.0_10443", "address": listener["address"], "filter_chains": [
                    {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}]}],
                "clusters": clusters,
            },
        }
        return json.dumps(cfg)

    @staticmethod
    def cluster(name: str, address: tuple[str, int], options: dict | None = None) -> dict:
        c = {"name": name, "type": "STATIC", "connect_timeout": "10s", "lb_policy": "LEAST_REQUEST",
             "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                 "socket_address": {"address": address[0], "port_value": address[1]}}}}]}]}}
        if options:
            c["typed_extension_protocol_options"] = options
        return c


def test_istio_gateway_enforces_fleet_wide_limits(tmp_path):
    """The manifests rendered with tightened limits (scripts/render-istio --filter-config), run
    as the Istio gateway would run them (IstioGateway) in a real Envoy, in front of the real
    rate limit service reading ratelimit.yaml's ConfigMap, and a real Redis. A team over its
    requests per minute (on a fallback chain's route) gets 429 rate_limited, and a team over its
    budget 429 team_budget_exceeded, each in OpenAI's shape with retry-after and the runbook,
    the provider receiving nothing; descriptor headers a client sends change nothing; the
    usage endpoint answers through the gateway with what Redis counted, which equals what the
    provider reported at the configuration's prices; with the service down, budgeted requests
    get 503 rate_limit_unavailable in the API's shape (OpenAI's, Anthropic's on /v1/messages)."""
    from harness import RateLimitService, Redis
    config = istio_limits_config(tmp_path / "filter-config.json")
    rendered = tmp_path / "istio"
    subprocess.run([str(ROOT / "scripts/render-istio"), "--filter-config", str(config), "--out", str(rendered)],
                   check=True, capture_output=True)
    [cm] = [d for d in yaml.safe_load_all((rendered / "ratelimit.yaml").read_text())
            if d and d["kind"] == "ConfigMap"]
    service_config = tmp_path / "service-config.json"
    service_config.write_text(cm["data"]["filter-config.json"])
    redis = Redis(tmp_path / "redis").start()
    service = gw = None
    try:
        service = RateLimitService(tmp_path, service_config, redis).start()
        istio = IstioGateway(rendered, tmp_path / "gw", service)
        gw = start_gateway(tmp_path / "gw", patch=istio.patch)
        clusters = {c["name"] for c in json.loads(gw.config_path.read_text())["static_resources"]["clusters"]}
        assert f"outbound|18081||{RL_HOST}" in clusters and not [c for c in clusters if "|" not in c]

        def usage(key: str) -> dict:
            r = httpx.get(f"{gw.url}/v1/gateway/usage", headers={"authorization": f"Bearer {key}"}, timeout=10)
            assert r.status_code == 200, r.text
            return r.json()

        def refused(r: httpx.Response, code: str) -> None:
            assert r.status_code == 429, r.text
            err = r.json()["error"]
            assert err["code"] == code and err["runbook_url"].endswith(f"/{code}.md"), err
            assert int(r.headers["retry-after"]) > 0
            assert gw.mock.requests() == [], "the refused request never reached the provider"

        # 1. Requests per minute, on the fallback chain's route of default-chat (HTTP_ROUTE
        #    model-gpt-4o-azure-gpt-4o-llama-internal). The second request spoofs every
        #    descriptor header, as if it were team-xyz's, free and tokenless.
        spoof = {"x-genai-rl-team": "team-xyz", "x-genai-rl-key": "k", "x-genai-rl-workload": "w",
                 "x-genai-rl-cost-max": "0", "x-genai-rl-tokens": "0", "x-genai-rl-api": "messages",
                 "x-genai-upstream": "genai-usage"}
        for i in range(3):
            r = chat(gw.url, TEAM_ABC_KEY, model="default-chat", headers=spoof if i == 1 else None)
            assert r.status_code == 200, r.text
            assert r.headers["x-ratelimit-limit-requests"] == "3"
            assert r.headers["x-ratelimit-remaining-requests"] == str(2 - i)
        received = gw.mock.requests()
        assert len(received) == 3
        assert all(json.loads(req["body"])["model"] == "gpt-4o-2024-08-06" for req in received)
        for req in received:
            assert not [h for h in req["headers"] if h.lower().startswith("x-genai")], req["headers"]
            assert req["headers"].get("authorization") == [f"Bearer {gw.provider_keys['OPENAI_API_KEY']}"]
        gw.mock.clear()
        refused(chat(gw.url, TEAM_ABC_KEY, model="default-chat"), "rate_limited")
        rpm = usage(TEAM_ABC_KEY)["requests_per_minute"]
        assert (rpm["used"], rpm["limit"]) == (3, 3)
        assert usage(TEAM_XYZ_KEY)["requests_per_minute"]["used"] == 0, "the spoofed team was not charged"
        r = httpx.get(f"{gw.url}/v1/gateway/usage", headers={"authorization": f"Bearer {TEAM_ABC_KEY}",
                                                             "x-genai-rl-team": "team-xyz"})
        assert r.status_code == 200 and r.json()["team"] == "team-abc", "one reads only one's own usage"

        # 2. A budget: $1 a day for team-xyz; each request's worst case (400 output tokens at
        #    $1,000 a million) is checked at admission, its real cost charged at stream end.
        spent = 0
        for _ in range(2):
            r = chat(gw.url, TEAM_XYZ_KEY, model="gpt-4o-mini", max_tokens=400, headers={"x-mock-tokens": "400"})
            assert r.status_code == 200, r.text
            spent += microdollars(r.json()["usage"]["prompt_tokens"], r.json()["usage"]["completion_tokens"])
            wait_until(lambda: usage(TEAM_XYZ_KEY)["spend"]["day"]["used_microdollars"] == spent, 10,
                       f"the stream-end charge ({spent} micro-dollars in all)")
        assert 800_000 < spent < 1_000_000  # a third worst case does not fit in what remains
        gw.mock.clear()
        refused(chat(gw.url, TEAM_XYZ_KEY, model="gpt-4o-mini", max_tokens=400, headers={"x-mock-tokens": "400"}),
                "team_budget_exceeded")
        day = usage(TEAM_XYZ_KEY)["spend"]["day"]
        assert day["used_microdollars"] == spent and day["budget_dollars"] == 1
        assert redis.cli("--scan").strip(), "the counters live in Redis"

        # 3. The service down: budgets fail closed, answered in the API's shape (the
        #    EnvoyFilter's local reply mappers), and nothing reaches the provider.
        service.stop()
        r = chat(gw.url, TEAM_ABC_KEY)
        assert r.status_code == 503 and r.json()["error"]["code"] == "rate_limit_unavailable", r.text
        r = httpx.post(f"{gw.url}/v1/messages", headers={"x-api-key": TEAM_ABC_KEY, "anthropic-version": "2023-06-01"},
                       json={"model": "claude-sonnet", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["type"] == "error" and body["error"]["type"] == "overloaded_error", body
        assert body["error"]["details"]["error_code"] == "rate_limit_unavailable"
        assert gw.mock.requests() == []
    except Exception:
        if gw:
            print(gw.log_tail(40))
        if service:
            print(service.log_text()[-3000:])
        raise
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
