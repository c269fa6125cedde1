//! Issue 8: users, tokens, roles, sessions with CSRF, rate limits, sign-in throttling, the
//! audit log, security headers, and hostile parameters — against a real `lookout serve` with
//! authentication on, users and tokens made with the real CLI.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aggregator::auth::{Access, ROUTES};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};
use tests::{Aggregator, bin, client, free_port, wait_for};

fn cli(data: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut cmd = Command::new(bin("lookout"));
    cmd.args(args).arg("--data-dir").arg(data);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run lookout");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn add_user(data: &Path, name: &str, role: &str, pw: &str) {
    let (ok, out, err) = cli(data, &["user", "add", name, "--role", role], Some(&format!("{pw}\n")));
    assert!(ok, "user add {name}: {out} {err}");
}

fn token(data: &Path, name: &str, role: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "create", name, "--role", role];
    args.extend_from_slice(extra);
    let (ok, out, err) = cli(data, &args, None);
    assert!(ok, "token create {name}: {out} {err}");
    let t = out.trim().to_string();
    assert!(t.starts_with("lkt_"), "{t}");
    t
}

fn config(dir: &Path, auth: &str) -> String {
    let p = dir.join("lookout.toml");
    std::fs::write(&p, format!("[auth]\n{auth}\n")).unwrap();
    p.display().to_string()
}

struct Env {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    agg: Aggregator,
    tokens: HashMap<&'static str, String>,
}

fn start(auth: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "ada", "admin", "admin-password-1");
    add_user(&data, "erin", "editor", "editor-password-1");
    add_user(&data, "vic", "viewer", "viewer-password-1");
    let mut tokens = HashMap::new();
    for role in ["ingest", "viewer", "editor", "admin"] {
        tokens.insert(role, token(&data, &format!("{role}-token"), role, &[]));
    }
    let cfg = config(dir.path(), auth);
    let agg = Aggregator::start_with_auth(&data, free_port(), &["--config", &cfg]);
    Env { _dir: dir, data, agg, tokens }
}

fn bearer(rb: RequestBuilder, t: &str) -> RequestBuilder {
    rb.header("Authorization", format!("Bearer {t}"))
}

/// What the issue asks of each route, written independently of the server's table: the
/// weakest role that may call it.
fn expected(method: &str, path: &str) -> &'static str {
    let ingest = ["/v1/logs", "/api/v1/logs/ingest", "/loki/api/v1/push", "/api/v1/write", "/v1/metrics", "/api/v1/import/prometheus"];
    if path.starts_with("/health/") || path == "/api/v1/auth/login" {
        "public"
    } else if path == "/api/v1/auth/me" || path == "/api/v1/auth/logout" {
        "any"
    } else if ingest.contains(&path) {
        "ingest"
    } else if path == "/api/v2/alerts" && method == "POST" {
        "alert-sender"
    } else if path.starts_with("/api/v1/users")
        || path.starts_with("/api/v1/tokens")
        || path == "/api/v1/audit"
        || path == "/api/v1/auth/routes"
    {
        "admin"
    } else if (path.starts_with("/api/v2/silence") && method != "GET") || path == "/-/reload" || path.starts_with("/api/v1/alerts/{fp}") {
        "editor"
    } else {
        "viewer"
    }
}

fn allowed(expect: &str, role: &str) -> bool {
    match expect {
        "public" | "any" => true,
        "ingest" => matches!(role, "ingest" | "admin"),
        "alert-sender" => matches!(role, "ingest" | "editor" | "admin"),
        "viewer" => matches!(role, "viewer" | "editor" | "admin"),
        "editor" => matches!(role, "editor" | "admin"),
        "admin" => role == "admin",
        other => panic!("{other}"),
    }
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "no-such-id")
        .replace("{uid}", "no-such-dashboard")
        .replace("{name}", "no-such-name")
        .replace("{fp}", "0000000000000000")
        .replace("{action}", "unack")
}

fn request(c: &Client, base: &str, method: &str, path: &str) -> RequestBuilder {
    let url = format!("{base}{}", concrete(path));
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let rb = c.request(m, url);
    if method == "GET" { rb } else { rb.header("Content-Type", "application/json").body("{}") }
}

#[test]
fn every_route_refuses_anonymous_callers_and_lower_roles() {
    let env = start("rate_limit_per_minute = 0");
    let c = client();
    let base = &env.agg.url;
    assert!(ROUTES.len() >= 50, "the table lists every route ({})", ROUTES.len());
    let mut checked = 0;
    for r in ROUTES {
        let expect = expected(r.method, r.path);
        // The server's declaration agrees with the issue's.
        let declared = match r.access {
            Access::Public => "public",
            Access::Authenticated => "any",
            Access::Ingest => "ingest",
            Access::AlertSender => "alert-sender",
            Access::Viewer | Access::Metrics => "viewer",
            Access::Editor => "editor",
            Access::Admin => "admin",
        };
        assert_eq!(declared, expect, "{} {} is declared {declared}, the issue says {expect}", r.method, r.path);
        let anon = request(&c, base, r.method, r.path).send().unwrap().status();
        if expect == "public" {
            assert!(anon != StatusCode::UNAUTHORIZED && anon != StatusCode::FORBIDDEN, "{} {}: public but {anon}", r.method, r.path);
        } else {
            assert_eq!(anon, StatusCode::UNAUTHORIZED, "{} {} lets an anonymous caller in", r.method, r.path);
        }
        for role in ["ingest", "viewer", "editor", "admin"] {
            let rb = bearer(request(&c, base, r.method, r.path), &env.tokens[role]);
            if r.path == "/api/v1/logs/tail" && allowed(expect, role) {
                // An allowed tail is an endless event stream: the status line is enough.
                let resp = rb.timeout(Duration::from_secs(5)).send().unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                continue;
            }
            let got = rb.send().unwrap().status();
            if allowed(expect, role) {
                assert!(got != StatusCode::UNAUTHORIZED && got != StatusCode::FORBIDDEN, "{} {} refuses {role}: {got}", r.method, r.path);
            } else {
                assert_eq!(got, StatusCode::FORBIDDEN, "{} {} lets role {role} in ({got})", r.method, r.path);
            }
            checked += 1;
        }
    }
    assert!(checked >= 200, "{checked}");
    // /metrics needs a viewer unless configured public.
    assert_eq!(c.get(format!("{base}/metrics")).send().unwrap().status(), StatusCode::UNAUTHORIZED);
    let m = bearer(c.get(format!("{base}/metrics")), &env.tokens["viewer"]).send().unwrap().text().unwrap();
    assert!(m.contains("lookout_auth_refused_total{reason=\"anonymous\"}"), "refusals are counted");
}

#[test]
fn metrics_can_be_public_and_health_always_is() {
    let env = start("metrics_public = true");
    let c = client();
    assert_eq!(c.get(format!("{}/metrics", env.agg.url)).send().unwrap().status(), StatusCode::OK);
    assert_eq!(c.get(format!("{}/health/live", env.agg.url)).send().unwrap().status(), StatusCode::OK);
    assert_eq!(c.get(format!("{}/api/v1/logs/search", env.agg.url)).send().unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn tokens_expired_revoked_or_forged_are_refused_and_ingest_works_with_a_token() {
    let env = start("");
    let c = client();
    let base = &env.agg.url;
    // Ingest with the agent's token lands; the same line without one is refused.
    let line = r#"{"message":"secured line","service":"sec"}"#;
    let r = bearer(c.post(format!("{base}/api/v1/logs/ingest")), &env.tokens["ingest"]).body(line).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    assert_eq!(c.post(format!("{base}/api/v1/logs/ingest")).body(line).send().unwrap().status(), StatusCode::UNAUTHORIZED);
    wait_for("the line is searchable", Duration::from_secs(30), || {
        let v: Value = bearer(c.get(format!("{base}/api/v1/logs/search")).query(&[("q", "service:sec")]), &env.tokens["viewer"])
            .send()
            .ok()?
            .json()
            .ok()?;
        (v["total"] == 1).then_some(())
    });
    // An ingest token cannot read.
    assert_eq!(bearer(c.get(format!("{base}/api/v1/logs/search")), &env.tokens["ingest"]).send().unwrap().status(), StatusCode::FORBIDDEN);

    let short = token(&env.data, "short-lived", "viewer", &["--expires-in", "1s"]);
    let get = |t: &str| bearer(c.get(format!("{base}/api/v1/labels")), t).send().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let r = get(&short);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().unwrap().contains("token expired"));

    let doomed = token(&env.data, "doomed", "viewer", &[]);
    assert_eq!(get(&doomed).status(), StatusCode::OK);
    let id = doomed.split('_').nth(1).unwrap().to_string();
    let (ok, out, err) = cli(&env.data, &["token", "revoke", &id], None);
    assert!(ok, "{out}{err}");
    let r = get(&doomed);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "revoked from the CLI while the server runs");
    assert!(r.text().unwrap().contains("token revoked"));

    let forged = format!("lkt_{id}_{}", "A".repeat(43));
    assert_eq!(get(&forged).status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get("not-a-token").status(), StatusCode::UNAUTHORIZED);
    let r = c.get(format!("{base}/api/v1/labels")).header("Authorization", "Basic dXNlcjpwYXNz").send().unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Token listing never shows secrets.
    let (ok, out, _) = cli(&env.data, &["token", "list"], None);
    assert!(ok && out.contains("doomed") && out.contains("revoked") && !out.contains("lkt_"), "{out}");
}

fn login(c: &Client, base: &str, user: &str, pw: &str) -> reqwest::blocking::Response {
    c.post(format!("{base}/api/v1/auth/login")).json(&json!({"username": user, "password": pw})).send().unwrap()
}

fn session(r: &reqwest::blocking::Response) -> String {
    let cookie = r.headers().get("set-cookie").expect("a session cookie").to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    cookie.split(';').next().unwrap().to_string()
}

#[test]
fn sessions_need_csrf_for_changes_and_everything_is_audited() {
    let env = start("");
    let c = client();
    let base = &env.agg.url;
    let admin = &env.tokens["admin"];

    // A failed sign-in is refused and recorded.
    assert_eq!(login(&c, base, "erin", "wrong-password").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login(&c, base, "nobody", "wrong-password").status(), StatusCode::UNAUTHORIZED);
    let r = login(&c, base, "erin", "editor-password-1");
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = session(&r);
    let body: Value = r.json().unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    assert_eq!(body["role"], "editor");
    let me: Value = c.get(format!("{base}/api/v1/auth/me")).header("Cookie", &cookie).send().unwrap().json().unwrap();
    assert_eq!((me["user"].as_str(), me["csrf_token"].as_str()), (Some("erin"), Some(csrf.as_str())));

    // A silence by the signed-in editor: refused without the CSRF header, accepted with it.
    let silence = json!({
        "matchers": [{"name": "alertname", "value": "Sec", "isRegex": false}],
        "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "erin", "comment": "audit me"
    });
    let post = || c.post(format!("{base}/api/v2/silences")).header("Cookie", &cookie).json(&silence);
    assert_eq!(post().send().unwrap().status(), StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(post().header("X-CSRF-Token", "guess").send().unwrap().status(), StatusCode::FORBIDDEN, "wrong CSRF token");
    let r = post().header("X-CSRF-Token", &csrf).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sid = r.json::<Value>().unwrap()["silenceID"].as_str().unwrap().to_string();
    let r = c.delete(format!("{base}/api/v2/silence/{sid}")).header("Cookie", &cookie).header("X-CSRF-Token", &csrf).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // An acknowledgement names the signed-in user, whatever the body claims.
    let alert = json!([{"labels": {"alertname": "SecAlert", "severity": "page"}, "annotations": {"summary": "s"}}]);
    assert_eq!(
        bearer(c.post(format!("{base}/api/v2/alerts")), &env.tokens["ingest"]).json(&alert).send().unwrap().status(),
        StatusCode::OK
    );
    let alerts: Value = bearer(c.get(format!("{base}/api/v2/alerts")), admin).send().unwrap().json().unwrap();
    let fp = alerts.as_array().unwrap().iter().find(|a| a["labels"]["alertname"] == "SecAlert").unwrap()["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .post(format!("{base}/api/v1/alerts/{fp}/ack"))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"by": "someone-else", "comment": "on it"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());

    // Rule reload, user and token administration through the API.
    assert_eq!(bearer(c.post(format!("{base}/-/reload")), &env.tokens["editor"]).send().unwrap().status(), StatusCode::OK);
    let r = bearer(c.post(format!("{base}/api/v1/users")), admin)
        .json(&json!({"name": "newbie", "role": "viewer", "password": "newbie-password"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = bearer(c.put(format!("{base}/api/v1/users/newbie")), admin).json(&json!({"role": "editor"})).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = bearer(c.post(format!("{base}/api/v1/tokens")), admin).json(&json!({"name": "api-made", "role": "viewer"})).send().unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().unwrap();
    let made_token = made["token"].as_str().unwrap().to_string();
    assert_eq!(bearer(c.get(format!("{base}/api/v1/labels")), &made_token).send().unwrap().status(), StatusCode::OK);
    let listed: Value = bearer(c.get(format!("{base}/api/v1/tokens")), admin).send().unwrap().json().unwrap();
    assert!(!listed.to_string().contains(&made_token[10..]), "the secret is shown once, never listed");
    let r = bearer(c.delete(format!("{base}/api/v1/tokens/{}", made["id"].as_str().unwrap())), admin).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(bearer(c.get(format!("{base}/api/v1/labels")), &made_token).send().unwrap().status(), StatusCode::UNAUTHORIZED);

    // Sign-out ends the session.
    let r = c.post(format!("{base}/api/v1/auth/logout")).header("Cookie", &cookie).header("X-CSRF-Token", &csrf).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(c.get(format!("{base}/api/v1/auth/me")).header("Cookie", &cookie).send().unwrap().status(), StatusCode::UNAUTHORIZED);

    // The audit log has each of them, with who, from where, and before/after.
    assert_eq!(bearer(c.get(format!("{base}/api/v1/audit")), &env.tokens["editor"]).send().unwrap().status(), StatusCode::FORBIDDEN);
    let rows: Value = bearer(c.get(format!("{base}/api/v1/audit")).query(&[("limit", "1000")]), admin).send().unwrap().json().unwrap();
    let rows = rows["data"].as_array().unwrap().clone();
    let find = |action: &str, pred: &dyn Fn(&Value) -> bool| -> Value {
        rows.iter().find(|r| r["action"] == action && pred(r)).cloned().unwrap_or_else(|| panic!("no audit row {action}: {rows:#?}"))
    };
    find("login.failed", &|r| r["actor"] == "user:erin" && r["addr"] == "127.0.0.1");
    find("login.failed", &|r| r["actor"] == "user:nobody");
    find("login", &|r| r["actor"] == "user:erin" && r["status"] == 200);
    let created = find("POST /api/v2/silences", &|r| r["target"] == sid.as_str());
    assert_eq!(created["actor"], "user:erin");
    assert!(created["before"].is_null());
    assert_eq!(created["after"]["comment"], "audit me");
    let expired = find("DELETE /api/v2/silence/{id}", &|r| r["target"] == sid.as_str());
    assert!(expired["before"]["ends_at"].as_i64().unwrap() > expired["after"]["ends_at"].as_i64().unwrap(), "{expired}");
    let ack = find("POST /api/v1/alerts/{fp}/ack", &|r| r["target"] == fp.as_str());
    assert!(ack["before"]["acknowledged_by"].is_null(), "{ack}");
    assert_eq!(ack["after"]["acknowledged_by"], "erin", "{ack}");
    find("POST /-/reload", &|r| r["actor"] == "token:editor-token");
    let added = find("POST /api/v1/users", &|r| r["target"] == "newbie");
    assert_eq!(added["after"]["role"], "viewer");
    assert!(!added.to_string().contains("newbie-password"), "passwords never reach the audit log");
    let changed = find("PUT /api/v1/users/{name}", &|r| r["target"] == "newbie");
    assert_eq!((changed["before"]["role"].as_str(), changed["after"]["role"].as_str()), (Some("viewer"), Some("editor")));
    find("POST /api/v1/tokens", &|r| r["after"]["name"] == "api-made");
    let revoked = find("DELETE /api/v1/tokens/{id}", &|r| r["target"] == made["id"]);
    assert!(revoked["before"]["revoked_ms"].is_null() && revoked["after"]["revoked_ms"].is_i64(), "{revoked}");
    // The CLI's own changes are there too.
    find("user.add", &|r| r["target"] == "ada" && r["actor"].as_str().unwrap().starts_with("cli:"));
    find("token.create", &|r| r["after"]["name"] == "ingest-token");
    // Filtering by actor (a bound parameter: a quote is just a character).
    let only: Value = bearer(c.get(format!("{base}/api/v1/audit")).query(&[("actor", "user:erin")]), admin).send().unwrap().json().unwrap();
    assert!(only["data"].as_array().unwrap().iter().all(|r| r["actor"] == "user:erin"));
    let inj: Value =
        bearer(c.get(format!("{base}/api/v1/audit")).query(&[("actor", "x' OR '1'='1")]), admin).send().unwrap().json().unwrap();
    assert_eq!(inj["data"].as_array().unwrap().len(), 0);
}

#[test]
fn rate_limits_and_sign_in_throttling_answer_429_with_retry_after() {
    let env = start("rate_limit_per_minute = 20\nlogin_failures_per_account = 3\nlogin_failures_per_address = 50");
    let c = client();
    let base = &env.agg.url;
    let limited = token(&env.data, "burst", "viewer", &[]);
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(bearer(c.get(format!("{base}/api/v1/labels")), &limited).send().unwrap());
    }
    let ok = statuses.iter().filter(|r| r.status() == StatusCode::OK).count();
    let refused: Vec<_> = statuses.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).collect();
    assert!((20..=21).contains(&ok), "{ok} requests passed a limit of 20/min");
    assert!(!refused.is_empty());
    let retry: u64 = refused[0].headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry), "{retry}");
    assert_eq!(
        bearer(c.get(format!("{base}/api/v1/labels")), &env.tokens["viewer"]).send().unwrap().status(),
        StatusCode::OK,
        "other tokens are not limited"
    );

    for _ in 0..3 {
        assert_eq!(login(&c, base, "vic", "not-her-password").status(), StatusCode::UNAUTHORIZED);
    }
    let r = login(&c, base, "vic", "viewer-password-1");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "locked even with the right password");
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(login(&c, base, "erin", "editor-password-1").status(), StatusCode::OK, "other accounts still sign in");
}

#[test]
fn security_headers_and_hostile_parameters() {
    let env = start("");
    let c = client();
    let base = &env.agg.url;
    let admin = &env.tokens["admin"];
    for path in ["/", "/logs", "/api/v1/labels", "/health/live"] {
        let r = bearer(c.get(format!("{base}{path}")), admin).send().unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        let script = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
        assert!(!script.contains("unsafe-inline") && !script.contains("unsafe-eval"), "{script}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
    }
    // SQL through every parameter that reaches SQLite.
    for name in ["' OR '1'='1", "admin'--", "ada\"; DROP TABLE users; --"] {
        assert_eq!(login(&c, base, name, "' OR '1'='1").status(), StatusCode::UNAUTHORIZED, "{name}");
        let enc = name.replace(' ', "%20").replace('\'', "%27").replace('"', "%22").replace(';', "%3B");
        let r = bearer(c.put(format!("{base}/api/v1/users/{enc}")), admin).json(&json!({"role": "admin"})).send().unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{name}");
        let r = bearer(c.delete(format!("{base}/api/v1/tokens/{enc}")), admin).send().unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{name}");
        let r = bearer(c.get(format!("{base}/api/v2/silence/{enc}")), admin).send().unwrap();
        assert!(r.status().is_client_error(), "{name}: {}", r.status());
        let r = bearer(c.post(format!("{base}/api/v1/alerts/{enc}/ack")), admin).send().unwrap();
        assert!(r.status().is_client_error(), "{name}: {}", r.status());
        let r = bearer(c.post(format!("{base}/api/v1/users")), admin)
            .json(&json!({"name": name, "role": "admin", "password": "long-enough-pw"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{name}");
    }
    let users: Value = bearer(c.get(format!("{base}/api/v1/users")), admin).send().unwrap().json().unwrap();
    assert_eq!(users["data"].as_array().unwrap().len(), 3, "no user added, none lost: {users}");
    assert!(users.to_string().contains("\"admin\""));
    let tokens: Value = bearer(c.get(format!("{base}/api/v1/tokens")), admin).send().unwrap().json().unwrap();
    assert!(tokens["data"].as_array().unwrap().iter().all(|t| t["revoked_ms"].is_null()), "no token revoked by an injection");
    // Paths that reach the filesystem.
    for path in [
        "/api/v1/dashboards/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/v1/dashboards/%2e%2e",
        "/api/v1/logs/line/..%2F..%2Fetc%2Fpasswd",
        "/..%2F..%2F..%2Fetc%2Fpasswd",
        "/assets/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/api/v1/logs/context?id=..%2F..%2Fetc%2Fpasswd",
    ] {
        let r = bearer(c.get(format!("{base}{path}")), admin).send().unwrap();
        let status = r.status();
        let text = r.text().unwrap();
        assert!(!text.contains("root:x:0:0"), "{path} leaked /etc/passwd");
        assert!(status.is_client_error() || text.contains("<html") || text.contains("<!doctype"), "{path}: {status} {text}");
    }
}

fn count_with(c: &Client, base: &str, token: &str, q: &str) -> u64 {
    let v: Value =
        bearer(c.get(format!("{base}/api/v1/logs/search")).query(&[("q", q), ("limit", "1")]), token).send().unwrap().json().unwrap();
    v["total"].as_u64().unwrap()
}

/// A refused token loses nothing: the agent keeps the lines (401 is retried, not dropped) until
/// the token file holds a good token and SIGHUP re-reads it; then every line arrives once.
#[test]
fn an_agent_with_a_revoked_token_keeps_its_lines_until_the_token_is_fixed() {
    let env = start("");
    let c = client();
    let base = env.agg.url.clone();
    let dir = env.data.parent().unwrap().to_path_buf();
    let old = token(&env.data, "agent-old", "ingest", &[]);
    let (ok, out, err) = cli(&env.data, &["token", "revoke", "agent-old"], None);
    assert!(ok, "{out}{err}");
    let token_file = dir.join("agent.token");
    std::fs::write(&token_file, format!("{old}\n")).unwrap();
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let n = 400u64;
    tests::append_lines(&logs.join("app.log"), &(0..n).map(|i| tests::test_line("tok", 0, i)).collect::<Vec<_>>());
    let cfg = tests::write_agent_config(&dir, &[logs.join("*.log").display().to_string()], "read_from = \"beginning\"", &base, free_port());
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!("\n[sinks.central.auth]\ntoken_file = {:?}\n", token_file.display().to_string()));
    std::fs::write(&cfg, text).unwrap();
    let agent = tests::start_agent(&dir, &cfg, 1);
    wait_for("the agent to be refused", Duration::from_secs(30), || agent.log_text().contains("401").then_some(()));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count_with(&c, &base, &env.tokens["viewer"], "file:tok"), 0, "nothing gets in with a revoked token");
    assert!(!agent.log_text().contains("dropped"), "refused batches are kept, not dropped:\n{}", agent.log_text());

    std::fs::write(&token_file, format!("{}\n", env.tokens["ingest"])).unwrap();
    agent.signal(libc::SIGHUP);
    wait_for("every line after the token is fixed", Duration::from_secs(60), || {
        (count_with(&c, &base, &env.tokens["viewer"], "file:tok") >= n).then_some(())
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count_with(&c, &base, &env.tokens["viewer"], "file:tok"), n, "every line exactly once");
}
