//! The command lines: `--help`, `--version`, and `check-config` naming file, line and key.

use std::path::Path;
use std::process::Command;

use tests::bin;

fn run(name: &str, args: &[&str]) -> (bool, String, String) {
    // The shipped agent configs read their ingest token from LOOKOUT_TOKEN, as deployed.
    let out = Command::new(bin(name)).args(args).env("LOOKOUT_TOKEN", "lkt_test_token").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn help_and_version() {
    for name in ["lookout", "lookout-agent"] {
        let (ok, out, _) = run(name, &["--version"]);
        assert!(ok && out.starts_with(name) && out.contains("0.1.0"), "{out}");
        let (ok, out, _) = run(name, &["--help"]);
        assert!(ok && out.contains("check-config"), "{out}");
    }
    let (_, out, _) = run("lookout", &["--help"]);
    assert!(out.contains("serve") && out.contains("up"), "{out}");
}

#[test]
fn check_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let agent = dir.path().join("agent.toml");
    std::fs::write(&agent, "data_dir = \"/tmp/x\"\n\n[sources.app]\ntype = \"file\"\ninclude = [\"/var/log/*.log\"]\nread_form = \"end\"\n\n[sinks.c]\ntype = \"lookout\"\ninputs = [\"app\"]\nendpoint = \"http://127.0.0.1:9400\"\n").unwrap();
    let (ok, _, err) = run("lookout-agent", &["check-config", "--config", agent.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("agent.toml:6") && err.contains("read_form") && err.contains("sources.app"), "{err}");

    std::fs::write(&agent, "[sources.app]\ntype = \"file\"\ninclude = [\"/var/log/*.log\"]\n\n[sinks.c]\ntype = \"lookout\"\ninputs = [\"ap\"]\nendpoint = \"ftp://x\"\n").unwrap();
    let (ok, _, err) = run("lookout-agent", &["check-config", "--config", agent.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("agent.toml:8: key `sinks.c.endpoint`"), "{err}");
    assert!(err.contains("agent.toml:7: key `sinks.c.inputs`: unknown input \"ap\""), "{err}");

    let server = dir.path().join("lookout.toml");
    std::fs::write(&server, "listen = \"127.0.0.1:9400\"\n[logs]\ncommit_interval_ms = 0\nunknown_thing = 1\n").unwrap();
    let (ok, _, err) = run("lookout", &["check-config", "--config", server.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("lookout.toml:4") && err.contains("unknown_thing"), "{err}");

    let (ok, _, err) = run("lookout", &["check-config", "--config", "/nonexistent/lookout.toml"]);
    assert!(!ok && err.contains("/nonexistent/lookout.toml") && err.contains("cannot read"), "{err}");
}

#[test]
fn shipped_example_configs_pass_check_config() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let (ok, out, err) = run("lookout", &["check-config", "--config", deploy.join("lookout.toml").to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = run("lookout-agent", &["check-config", "--config", deploy.join("agent.toml").to_str().unwrap()]);
    assert!(ok, "{out}{err}");
}
