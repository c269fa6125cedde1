#!/usr/bin/env python3
"""Cross-reference checks over deploy/kubernetes and deploy/container that a schema cannot do.

Usage: check_manifests.py REPO_ROOT OUT_DIR

Prints one line per problem and exits 1 if there is any. Also writes every TOML config embedded
in a ConfigMap to OUT_DIR as `<configmap>.<key>` so the caller can run `check-config` on it.
Schema validation itself is kubernetes-validate's job (run by the Rust test beside this).
"""

import os
import re
import sys

import yaml


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_kubernetes(root, out_dir, problems):
    kdir = os.path.join(root, "deploy", "kubernetes")
    docs = []
    for name in sorted(os.listdir(kdir)):
        if name.endswith(".yaml") and name != "kustomization.yaml":
            for d in load_all(os.path.join(kdir, name)):
                docs.append((name, d))

    def objects(kind):
        return [(f, d) for f, d in docs if d.get("kind") == kind]

    def names(kind):
        return {(d["metadata"].get("namespace"), d["metadata"]["name"]) for _, d in objects(kind)}

    # kustomization lists every manifest except the example secrets
    kust = yaml.safe_load(open(os.path.join(kdir, "kustomization.yaml")))
    for r in kust.get("resources", []):
        if not os.path.exists(os.path.join(kdir, r)):
            problems.append(f"kustomization.yaml: resource {r} does not exist")
    listed = set(kust.get("resources", []))
    for f in {f for f, _ in docs}:
        if f not in listed and not f.endswith(".example.yaml"):
            problems.append(f"kustomization.yaml: {f} is not listed in resources")

    configmaps = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d for _, d in objects("ConfigMap")}
    secrets = names("Secret")
    accounts = names("ServiceAccount")
    workloads = objects("StatefulSet") + objects("DaemonSet") + objects("Deployment")
    pod_templates = []
    for f, w in workloads:
        ns = w["metadata"].get("namespace")
        tmpl = w["spec"]["template"]
        sel = w["spec"]["selector"]["matchLabels"]
        if not labels_match(sel, tmpl["metadata"].get("labels", {})):
            problems.append(f"{f}: {w['kind']}/{w['metadata']['name']} selector does not match its pod labels")
        pod_templates.append((ns, tmpl, f, w))
        spec = tmpl["spec"]
        sa = spec.get("serviceAccountName")
        if sa and (ns, sa) not in accounts:
            problems.append(f"{f}: serviceAccountName {sa} is not defined")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        claim_names = {c["metadata"]["name"] for c in w["spec"].get("volumeClaimTemplates", [])}
        for v in volumes.values():
            cm = v.get("configMap")
            if cm and (ns, cm["name"]) not in configmaps:
                problems.append(f"{f}: volume {v['name']} refers to missing ConfigMap {cm['name']}")
        for c in spec["containers"]:
            where = f"{f}: container {c['name']}"
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes and m["name"] not in claim_names:
                    problems.append(f"{where}: volumeMount {m['name']} has no volume")
            for e in c.get("envFrom", []):
                ref = e.get("secretRef")
                if ref and (ns, ref["name"]) not in secrets:
                    problems.append(f"{where}: secretRef {ref['name']} has no Secret (not even in an example)")
            port_names = {p.get("name") for p in c.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                p = c.get(probe)
                if not p:
                    continue
                get = p.get("httpGet", {})
                if not get.get("path", "").startswith("/health/"):
                    problems.append(f"{where}: {probe} is not on /health/*")
                if isinstance(get.get("port"), str) and get["port"] not in port_names:
                    problems.append(f"{where}: {probe} port {get['port']} is not a container port")
            if "readinessProbe" not in c or "livenessProbe" not in c:
                problems.append(f"{where}: needs both readiness and liveness probes")
            res = c.get("resources", {})
            if "limits" not in res or "memory" not in res.get("limits", {}):
                problems.append(f"{where}: needs a memory limit")
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False or sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: must set allowPrivilegeEscalation false and readOnlyRootFilesystem true")
        for v in volumes.values():
            hp = v.get("hostPath")
            if not hp:
                continue
            mounts = [m for c in spec["containers"] for m in c.get("volumeMounts", []) if m["name"] == v["name"]]
            writable = [m for m in mounts if not m.get("readOnly")]
            if writable and not hp["path"].startswith("/var/lib/lookout"):
                problems.append(f"{f}: hostPath {hp['path']} is mounted writable")

    for f, s in objects("Service"):
        ns = s["metadata"].get("namespace")
        sel = s["spec"].get("selector", {})
        targets = [(t, w) for tns, t, _, w in pod_templates if tns == ns and labels_match(sel, t["metadata"].get("labels", {}))]
        if not targets:
            problems.append(f"{f}: Service/{s['metadata']['name']} selects no pods")
        for p in s["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            for t, _ in targets:
                ports = [cp for c in t["spec"]["containers"] for cp in c.get("ports", [])]
                ok = any(cp.get("name") == tp or cp["containerPort"] == tp for cp in ports)
                if not ok:
                    problems.append(f"{f}: Service/{s['metadata']['name']} targetPort {tp} is not a container port")

    for f, w in objects("StatefulSet"):
        svc = w["spec"].get("serviceName")
        headless = [s for _, s in objects("Service") if s["metadata"]["name"] == svc and s["spec"].get("clusterIP") == "None"]
        if not headless:
            problems.append(f"{f}: StatefulSet serviceName {svc} is not a headless Service")

    for f, p in objects("PodDisruptionBudget"):
        ns = p["metadata"].get("namespace")
        sel = p["spec"]["selector"]["matchLabels"]
        if not any(tns == ns and labels_match(sel, t["metadata"].get("labels", {})) for tns, t, _, _ in pod_templates):
            problems.append(f"{f}: PodDisruptionBudget/{p['metadata']['name']} selects no pods")

    roles = {d["metadata"]["name"] for _, d in objects("ClusterRole")}
    for f, b in objects("ClusterRoleBinding"):
        if b["roleRef"]["name"] not in roles:
            problems.append(f"{f}: ClusterRoleBinding refers to missing ClusterRole {b['roleRef']['name']}")
        for s in b["subjects"]:
            if s["kind"] == "ServiceAccount" and (s.get("namespace"), s["name"]) not in accounts:
                problems.append(f"{f}: ClusterRoleBinding subject {s['name']} is not defined")

    for (ns, name), cm in configmaps.items():
        for key, text in (cm.get("data") or {}).items():
            if key.endswith(".toml"):
                with open(os.path.join(out_dir, f"{name}.{key}"), "w") as out:
                    out.write(text)


def check_container(root, problems):
    cdir = os.path.join(root, "deploy", "container")
    dockerfile = open(os.path.join(cdir, "Dockerfile")).read()
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile, re.M | re.I))
    for line in dockerfile.splitlines():
        m = re.match(r"^COPY\s+(?!--from)(.*)\s+(\S+)$", line.strip())
        if m:
            for src in m.group(1).split():
                if src.startswith("--"):
                    continue
                if not os.path.exists(os.path.join(root, src)):
                    problems.append(f"Dockerfile: COPY source {src} does not exist")
    if not re.search(r"^USER\s+(?!root|0\b)", dockerfile, re.M):
        problems.append("Dockerfile: runtime images must set a non-root USER")
    compose = yaml.safe_load(open(os.path.join(cdir, "compose.yaml")))
    built = {}
    for name, svc in compose["services"].items():
        b = svc.get("build")
        if b:
            if b.get("target") not in stages:
                problems.append(f"compose.yaml: service {name} builds unknown target {b.get('target')}")
            if os.path.normpath(os.path.join(cdir, b["context"])) != os.path.normpath(root):
                problems.append(f"compose.yaml: service {name} build context is not the repository root")
            built[svc.get("image")] = name
    declared = set((compose.get("volumes") or {}).keys())
    for name, svc in compose["services"].items():
        if svc.get("image") not in built:
            problems.append(f"compose.yaml: service {name} uses image {svc.get('image')} that no service builds")
        for dep in svc.get("depends_on", []):
            if dep not in compose["services"]:
                problems.append(f"compose.yaml: service {name} depends on unknown {dep}")
        for v in svc.get("volumes", []):
            vol = v.split(":")[0]
            if not vol.startswith((".", "/")) and vol not in declared:
                problems.append(f"compose.yaml: service {name} mounts undeclared volume {vol}")
    agents = [n for n, s in compose["services"].items() if s.get("image", "").startswith("lookout-agent")]
    if len(agents) < 2:
        problems.append("compose.yaml: expected two agents")


def main():
    root, out_dir = sys.argv[1], sys.argv[2]
    problems = []
    check_kubernetes(root, out_dir, problems)
    check_container(root, problems)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
