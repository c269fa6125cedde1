//! Everything shipped in `deploy/` is checked the way an operator's tools would check it:
//! every config passes `check-config` (including the ones embedded in Kubernetes ConfigMaps),
//! the Kubernetes manifests pass the API schema (kubernetes-validate, strict) and cross-reference
//! each other (selectors, ports, ConfigMaps, Secrets, probes), the compose file and Dockerfile
//! agree, and the systemd units pass `systemd-analyze verify` with a low exposure score.

use std::path::{Path, PathBuf};
use std::process::Command;

use tests::bin;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A tool the install script provides: its absence fails in CI and skips elsewhere.
fn have(tool: &str) -> bool {
    let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().map(|o| o.status.success()).unwrap_or(false);
    if !found {
        assert!(std::env::var_os("CI").is_none(), "`{tool}` missing; scripts/install-test-deps.sh installs it");
        eprintln!("skipping: `{tool}` not installed (scripts/install-test-deps.sh installs it)");
    }
    found
}

fn check_config(binary: &str, path: &Path) {
    // The shipped agent configs read their ingest token from LOOKOUT_TOKEN, as deployed.
    let out =
        Command::new(bin(binary)).args(["check-config", "--config"]).arg(path).env("LOOKOUT_TOKEN", "lkt_test_token").output().unwrap();
    assert!(
        out.status.success(),
        "{binary} check-config {} failed:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Aggregator configs are named `lookout.toml`; everything else in deploy/ is an agent config.
fn binary_for(path: &Path) -> &'static str {
    if path.file_name().unwrap().to_string_lossy().ends_with("lookout.toml") { "lookout" } else { "lookout-agent" }
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            toml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

#[test]
fn every_shipped_config_passes_check_config() {
    let mut files = Vec::new();
    toml_files(&repo().join("deploy"), &mut files);
    assert!(files.len() >= 4, "expected the example and container configs, found {files:?}");
    for f in &files {
        check_config(binary_for(f), f);
    }
}

#[test]
fn check_config_rejects_a_broken_deploy_config() {
    // The check above must be able to fail: a typo in a shipped config is caught with file:line.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("deploy/container/agent.toml")).unwrap().replace("read_from", "read_form");
    let p = dir.path().join("agent.toml");
    std::fs::write(&p, text).unwrap();
    let out = Command::new(bin("lookout-agent")).args(["check-config", "--config"]).arg(&p).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("agent.toml:") && err.contains("read_form"), "{err}");
}

#[test]
fn kubernetes_manifests_pass_schema_and_cross_reference() {
    if !have("kubernetes-validate") || !have("python3") {
        return;
    }
    let kdir = repo().join("deploy/kubernetes");
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(&kdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml") && !p.ends_with("kustomization.yaml"))
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 3, "{manifests:?}");
    let out = Command::new("kubernetes-validate").args(["--strict", "--quiet"]).args(&manifests).output().unwrap();
    assert!(
        out.status.success(),
        "schema validation failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let extracted = tempfile::tempdir().unwrap();
    let out =
        Command::new("python3").arg(repo().join("tests/deploy/check_manifests.py")).arg(repo()).arg(extracted.path()).output().unwrap();
    assert!(
        out.status.success(),
        "cross-reference problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The configs inside the ConfigMaps are real configs too.
    let mut embedded: Vec<PathBuf> = std::fs::read_dir(extracted.path()).unwrap().map(|e| e.unwrap().path()).collect();
    embedded.sort();
    assert_eq!(embedded.len(), 2, "expected the aggregator's and the agent's ConfigMap configs: {embedded:?}");
    for f in &embedded {
        check_config(binary_for(f), f);
    }
}

#[test]
fn cross_reference_check_catches_broken_manifests() {
    if !have("python3") {
        return;
    }
    // Copy deploy/ (and what the Dockerfile copies), break one reference of each kind, expect each named.
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let copy = |rel: &str| {
        let status = Command::new("cp").arg("-r").arg(repo().join(rel)).arg(r.join(rel)).status().unwrap();
        assert!(status.success());
    };
    copy("deploy");
    for d in ["rules", "dashboards", "query-ui"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    for f in ["query-ui/package.json", "query-ui/package-lock.json"] {
        std::fs::copy(repo().join(f), r.join(f)).unwrap();
    }
    let agent = r.join("deploy/kubernetes/agent.yaml");
    let text = std::fs::read_to_string(&agent).unwrap();
    let broken = text
        .replace("targetPort: metrics", "targetPort: metricz")
        .replace("configMap: { name: lookout-agent-config }", "configMap: { name: lookout-agent-cfg }")
        .replace("path: /health/live, port: metrics", "path: /live, port: metrics");
    assert_ne!(text, broken);
    std::fs::write(&agent, broken).unwrap();
    let out = Command::new("python3").arg(repo().join("tests/deploy/check_manifests.py")).arg(r).arg(r).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("targetPort metricz"), "{stdout}");
    assert!(stdout.contains("missing ConfigMap lookout-agent-cfg"), "{stdout}");
    assert!(stdout.contains("livenessProbe is not on /health/*"), "{stdout}");
}

#[test]
fn systemd_units_verify_and_are_hardened() {
    if !have("systemd-analyze") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for (unit, binary) in [("lookout.service", "lookout"), ("lookout-agent.service", "lookout-agent")] {
        // Point the unit at the freshly built binary so `verify` can check the executables.
        let text = std::fs::read_to_string(repo().join("deploy/systemd").join(unit)).unwrap();
        assert!(text.contains(&format!("/usr/local/bin/{binary} ")), "{unit} should run /usr/local/bin/{binary}");
        let text = text.replace(&format!("/usr/local/bin/{binary}"), bin(binary).to_str().unwrap());
        for required in ["ProtectSystem=strict", "NoNewPrivileges=true", "ReadWritePaths=/var/lib/", "User="] {
            assert!(text.contains(required), "{unit} lacks {required}");
        }
        let p = dir.path().join(unit);
        std::fs::write(&p, text).unwrap();
        units.push(p);
    }
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).args(&units).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // verify prints nothing for a clean unit; anything it says about our units is a defect.
    let complaints: Vec<&str> = stderr.lines().filter(|l| l.contains(".service")).collect();
    assert!(out.status.success() && complaints.is_empty(), "systemd-analyze verify:\n{stderr}");

    for u in &units {
        let out = Command::new("systemd-analyze").args(["security", "--offline=true"]).arg(u).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let level: f64 = text
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .and_then(|rest| rest.split(':').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
        // systemd's scale: below 2.0 is rated "OK"; a default unit scores 9.6.
        assert!(level < 2.0, "{}: exposure {level}\n{text}", u.display());
    }
}
