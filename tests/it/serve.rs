//! `thematic serve`: the server's safety rules over plain HTTP, and the
//! analyst's whole path through it in a real headless Chromium driven over
//! WebDriver (fantoccini + chromedriver). The browser test is skipped, with
//! the reason printed, where chromium or chromedriver is missing; .ci/run
//! installs both.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::util::{read_jsonl, run_ok, thematic, write};

/// A response whose text tries to run script in the analyst's browser.
const PAYLOAD_ID: &str = "X-PAYLOAD";
const PAYLOAD: &str = r#"<script>document.title='pwned'</script><img src=x onerror="document.title='pwned'"> Kinship carers need more support."#;

/// The bundled sample plus the script payload, run into `dir/out`.
fn sample_run(dir: &Path) -> PathBuf {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/care-review/responses.jsonl");
    let mut corpus = std::fs::read_to_string(sample).unwrap();
    corpus.push_str(
        &serde_json::json!({"id": PAYLOAD_ID, "respondent_type": "parent", "region": "London", "text": PAYLOAD})
            .to_string(),
    );
    corpus.push('\n');
    let input = write(dir, "responses.jsonl", corpus);
    let out = dir.join("out");
    run_ok(&input, &out);
    out
}

/// A running `thematic serve`, stopped when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(out: &Path) -> Server {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("thematic"))
            .args(["serve", "--port", "0", "--user", "tester", "--out"])
            .arg(out)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .parse()
            .unwrap();
        Server { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request; returns (status, whole response text).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// GET a page with the right Host; returns the status.
/// GET `path` from the server as a browser on it would: (status, body).
fn fetch(server: &Server, path: &str) -> (u16, String) {
    http(server.addr, "GET", path, &[], "")
}

fn get(server: &Server, path: &str) -> u16 {
    fetch(server, path).0
}

/// POST a correction form from the server's own origin; returns the status.
fn post(server: &Server, form: &str) -> u16 {
    let origin = format!("http://{}", server.addr);
    http(
        server.addr,
        "POST",
        "/override",
        &[("Origin", &origin)],
        form,
    )
    .0
}

fn overrides_lines(out: &Path) -> usize {
    std::fs::read_to_string(out.join("overrides.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn corrections_from_another_origin_or_host_are_refused_and_bad_input_is_4xx() {
    let dir = TempDir::new().unwrap();
    let out = sample_run(dir.path());
    let server = Server::start(&out);
    let own = format!("http://{}", server.addr);
    let form = "id=S001&question=text&theme=care&action=remove&reason=x";

    // A page on another site posting to the local server.
    let (status, _) = http(
        server.addr,
        "POST",
        "/override",
        &[("Origin", "http://evil.example")],
        form,
    );
    assert_eq!(status, 403);
    // A port-confused origin on the same host, a missing Origin, a foreign Referer.
    let other_port = format!("http://127.0.0.1:{}", server.addr.port().wrapping_add(1));
    assert_eq!(
        http(
            server.addr,
            "POST",
            "/override",
            &[("Origin", &other_port)],
            form
        )
        .0,
        403
    );
    assert_eq!(http(server.addr, "POST", "/override", &[], form).0, 403);
    assert_eq!(
        http(
            server.addr,
            "POST",
            "/override",
            &[("Referer", "http://evil.example/page")],
            form
        )
        .0,
        403
    );
    // DNS rebinding: the right address under a foreign name.
    assert_eq!(
        http(server.addr, "GET", "/", &[("Host", "evil.example")], "").0,
        403
    );
    // State changes are POST only.
    assert_eq!(
        get(&server, "/override?id=S001&theme=care&action=remove"),
        405
    );
    assert_eq!(overrides_lines(&out), 0, "nothing was recorded");

    // Bad ids, themes, actions and questions: 404/400 pages, no record.
    let origin = [("Origin", own.as_str())];
    assert_eq!(get(&server, "/response?id=NOPE"), 404);
    assert_eq!(get(&server, "/responses?theme=nope"), 400);
    assert_eq!(get(&server, "/responses?page=x"), 400);
    assert_eq!(get(&server, "/responses?q=%22unclosed"), 400);
    assert_eq!(get(&server, "/no/such/page"), 404);
    assert_eq!(post(&server, "id=NOPE&theme=care&action=remove"), 404);
    assert_eq!(post(&server, "id=S001&theme=nope&action=remove"), 400);
    assert_eq!(post(&server, "id=S001&theme=care&action=maybe"), 400);
    assert_eq!(
        post(&server, "id=S001&question=nope&theme=care&action=remove"),
        400
    );
    assert_eq!(overrides_lines(&out), 0);

    // The same correction from the server's own page is recorded.
    let (status, response) = http(server.addr, "POST", "/override", &origin, form);
    assert_eq!(status, 303, "{response}");
    assert!(
        response.contains("location: /response?id=S001"),
        "{response}"
    );
    let recorded = read_jsonl(&out.join("overrides.jsonl"));
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["user"], "tester");
    assert_eq!(recorded[0]["action"], "remove");
    assert_eq!(recorded[0]["theme"], "care");
}

/// theme id → count, from the dashboard's theme table.
fn dashboard_counts(server: &Server) -> Vec<(String, u64)> {
    let (status, page) = fetch(server, "/");
    assert_eq!(status, 200);
    page.split("data-count=\"")
        .skip(1)
        .map(|rest| {
            let (theme, rest) = rest.split_once("\">").unwrap();
            let n = rest.split('<').next().unwrap().trim().parse().unwrap();
            (theme.to_owned(), n)
        })
        .collect()
}

#[test]
fn the_dashboard_agrees_with_themes_csv_and_follows_a_recode() {
    let dir = TempDir::new().unwrap();
    let out = sample_run(dir.path());
    let server = Server::start(&out);
    let mut shown = dashboard_counts(&server);
    shown.sort();
    let mut csv: Vec<(String, u64)> = crate::util::CARE_REVIEW_THEMES
        .iter()
        .map(|t| (t.to_string(), themes_csv_count(&out, t)))
        .collect();
    csv.sort();
    assert_eq!(shown, csv, "the dashboard counts what the report counts");

    // Re-code with a one-theme codebook while the server runs: the next
    // page shows the new coding.
    let book = write(
        dir.path(),
        "one.toml",
        "name = \"one\"\n[[theme]]\nid = \"kin\"\nlabel = \"Kinship\"\nkeywords = [\"kinship\"]\n",
    );
    thematic()
        .args(["code", "--quiet", "--out"])
        .arg(&out)
        .arg("--codebook")
        .arg(&book)
        .assert()
        .success();
    let after = dashboard_counts(&server);
    assert_eq!(after, [("kin".to_owned(), themes_csv_count(&out, "kin"))]);
    assert!(after[0].1 > 0);
}

#[test]
fn corrections_on_one_question_of_a_several_question_response() {
    let dir = TempDir::new().unwrap();
    let lines = [
        r#"{"id":"a&b c/1","region":"London","q1":"Kinship carers need support.","q2":"Kinship care saved us."}"#,
        r#"{"id":"r2","region":"Leeds","q1":"Ofsted never asked.","q2":"Funding cuts."}"#,
    ];
    let input = write(dir.path(), "in.jsonl", lines.join("\n"));
    let book = write(
        dir.path(),
        "book.toml",
        "name = \"kin\"\n[[theme]]\nid = \"kin\"\nlabel = \"Kinship\"\nkeywords = [\"kinship\"]\n",
    );
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--text-field", "q1", "--text-field", "q2"])
        .arg("--codebook")
        .arg(&book)
        .arg("--out")
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    let server = Server::start(&out);
    assert_eq!(dashboard_counts(&server), [("kin".to_owned(), 1)]);

    // The odd id survives the links: the browser links to it, and the link opens it.
    let (_, grid) = fetch(&server, "/responses?question=q2&theme=kin");
    assert!(grid.contains("href=\"/response?id=a%26b+c%2F1\""), "{grid}");
    assert_eq!(get(&server, "/response?id=a%26b+c%2F1"), 200);

    // Removing the theme from q1 leaves the response coded through q2 ...
    let form = "id=a%26b+c%2F1&question=q1&theme=kin&action=remove";
    assert_eq!(post(&server, form), 303);
    assert_eq!(dashboard_counts(&server), [("kin".to_owned(), 1)]);
    let (_, q1) = fetch(&server, "/responses?question=q1&theme=kin");
    assert!(q1.contains("data-total=\"0\""), "q1 no longer coded");
    // ... and removing it from q2 too uncodes the response.
    assert_eq!(
        post(
            &server,
            "id=a%26b+c%2F1&question=q2&theme=kin&action=remove"
        ),
        303
    );
    assert_eq!(dashboard_counts(&server), [("kin".to_owned(), 0)]);

    // `report` agrees, unit by unit.
    thematic()
        .args(["report", "--quiet", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicates::str::contains("applied to 2 unit(s), 2 changed"));
    assert_eq!(themes_csv_count(&out, "kin"), 0);
    for line in read_jsonl(&out.join("codes.jsonl")) {
        assert_eq!(line["themes"], serde_json::json!([]), "{line}");
    }
}

#[test]
fn serve_refuses_a_run_whose_codebook_was_edited_since_coding() {
    let dir = TempDir::new().unwrap();
    let out = sample_run(dir.path());
    write(
        &out,
        "codebook.toml",
        "name = \"edited\"\n[[theme]]\nid = \"kin\"\nlabel = \"Kinship\"\nkeywords = [\"kinship\"]\n",
    );
    thematic()
        .args(["serve", "--port", "0", "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "codebook.toml does not match the coded run",
        ));
}

#[test]
fn response_text_is_escaped_and_flagged_text_needs_the_restricted_switch() {
    let dir = TempDir::new().unwrap();
    let out = sample_run(dir.path());
    let server = Server::start(&out);
    let (status, page) = fetch(&server, &format!("/response?id={PAYLOAD_ID}"));
    assert_eq!(status, 200);
    assert!(
        !page.contains("<script>document"),
        "payload must not be live markup"
    );
    assert!(
        !page.contains("<img src=x"),
        "payload must not be live markup"
    );
    assert!(
        page.contains("&lt;script&gt;document.title="),
        "payload shown as text"
    );
    assert!(
        page.to_lowercase()
            .contains("content-security-policy: default-src 'none'")
    );
    let (_, grid) = fetch(&server, "/responses?q=kinship");
    assert!(grid.contains("&lt;script&gt;") && !grid.contains("<script>"));

    // A disclosure (the sample's S051) is listed but its text is hidden until asked for.
    let flagged = read_jsonl(&out.join("restricted/flagged.jsonl"));
    let id = flagged[0]["id"].as_str().unwrap();
    let text = flagged[0]["text"].as_str().unwrap();
    let words: String = text.chars().take(30).collect();
    let (_, hidden) = fetch(&server, &format!("/response?id={id}"));
    assert!(hidden.contains("restricted-notice"));
    assert!(!hidden.contains(&words), "flagged text hidden by default");
    let (_, shown) = fetch(&server, &format!("/response?id={id}&restricted=1"));
    assert!(
        shown.contains(&maud_escape(&words)),
        "shown behind the switch"
    );
}

fn maud_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

// ---- the browser test ----

fn which(name: &str) -> Option<PathBuf> {
    let out = Command::new("which").arg(name).output().ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(chromedriver: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Its own process group, so dropping it also stops the browsers it
        // started, even when a failed assertion skipped closing the session.
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: signals the process group this test created; no memory is involved.
        unsafe {
            libc::killpg(self.child.id() as libc::pid_t, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// theme id → responses, from themes.csv.
fn themes_csv_count(out: &Path, theme: &str) -> u64 {
    let mut reader = csv::Reader::from_path(out.join("themes.csv")).unwrap();
    reader
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[0] == theme)
        .map(|r| r[2].parse().unwrap())
        .unwrap()
}

#[test]
fn an_analyst_browses_filters_reads_evidence_and_removes_a_theme_in_chromium() {
    let (Some(chromium), Some(chromedriver)) = (which("chromium"), which("chromedriver")) else {
        eprintln!(
            "skipped: chromium and chromedriver are needed (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let dir = TempDir::new().unwrap();
    let out = sample_run(dir.path());
    let care_before = themes_csv_count(&out, "care");
    let server = Server::start(&out);
    let driver = Driver::start(&chromedriver);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let shots = std::env::var_os("THEMATIC_SCREENSHOTS").map(PathBuf::from);
    runtime.block_on(drive(
        &server,
        &driver,
        &chromium,
        shots.as_deref(),
        care_before,
    ));

    // The correction is on disk, and `thematic report` counts it.
    let recorded = read_jsonl(&out.join("overrides.jsonl"));
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["action"], "remove");
    assert_eq!(recorded[0]["reason"], "about social workers, not care");
    thematic()
        .args(["report", "--quiet", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicates::str::contains("1 changed an automatic code"));
    assert_eq!(themes_csv_count(&out, "care"), care_before - 1);
}

/// The text of what `locator` finds.
async fn text_of(client: &fantoccini::Client, locator: fantoccini::Locator<'_>) -> String {
    client.find(locator).await.unwrap().text().await.unwrap()
}

/// Click what `locator` finds and wait for the next page to load (the old
/// page's root element goes stale, the new one is complete).
async fn click_and_load(client: &fantoccini::Client, locator: fantoccini::Locator<'_>) {
    use fantoccini::Locator;
    let old = client.find(Locator::Css("html")).await.unwrap();
    client.find(locator).await.unwrap().click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while old.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "the page did not change");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while client
        .execute("return document.readyState", vec![])
        .await
        .ok()
        .and_then(|v| v.as_str().map(|s| s == "complete"))
        != Some(true)
    {
        assert!(Instant::now() < deadline, "the page did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn drive(
    server: &Server,
    driver: &Driver,
    chromium: &Path,
    shots: Option<&Path>,
    care_before: u64,
) {
    use fantoccini::{ClientBuilder, Locator};
    use hyper_util::client::legacy::connect::HttpConnector;

    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--window-size=1280,1400"]
        }),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session in headless chromium");
    let count_of = |theme: &'static str| {
        let client = client.clone();
        async move {
            text_of(&client, Locator::Css(&format!("td[data-count='{theme}']")))
                .await
                .trim()
                .parse::<u64>()
                .unwrap()
        }
    };

    // The dashboard agrees with the report files.
    client.goto(&server.url("/")).await.unwrap();
    assert_eq!(count_of("care").await, care_before);
    assert!(
        client
            .find(Locator::Css("svg#chart-themes rect"))
            .await
            .is_ok()
    );
    if let Some(dir) = shots {
        std::fs::write(
            dir.join("serve-dashboard.png"),
            client.screenshot().await.unwrap(),
        )
        .unwrap();
    }

    // Follow the theme to its responses.
    click_and_load(&client, Locator::Css("a.theme-link[data-theme='care']")).await;
    let total = |client: fantoccini::Client| async move {
        client
            .find(Locator::Id("match-count"))
            .await
            .unwrap()
            .attr("data-total")
            .await
            .unwrap()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("theme=care")
    );
    assert_eq!(total(client.clone()).await, care_before);

    // Filter by respondent type: fewer rows, every one of that type.
    client
        .find(Locator::Css("select[name='a.respondent_type']"))
        .await
        .unwrap()
        .select_by_value("care_experienced")
        .await
        .unwrap();
    click_and_load(&client, Locator::Css("form.filters button[type='submit']")).await;
    let filtered = total(client.clone()).await;
    assert!(
        filtered > 0 && filtered < care_before,
        "{filtered} of {care_before}"
    );
    let rows = client
        .find_all(Locator::Css("table#responses tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len() as u64, filtered.min(50));
    for row in &rows {
        assert!(row.text().await.unwrap().contains("care_experienced"));
    }

    // Open S001 ("I had 9 social workers in 4 years…"): its evidence is highlighted and labelled.
    client.goto(&server.url("/response?id=S001")).await.unwrap();
    let marks = client
        .find_all(Locator::Css("#text mark.ev"))
        .await
        .unwrap();
    assert!(!marks.is_empty(), "evidence is highlighted");
    let mut marked = String::new();
    for m in &marks {
        marked.push_str(&m.text().await.unwrap());
    }
    assert!(marked.contains("social workers"), "{marked}");
    let whole = text_of(&client, Locator::Id("text")).await;
    assert!(
        whole.starts_with("I had 9 social workers"),
        "text kept whole: {whole}"
    );
    let tags = client
        .find(Locator::Css("#text span.tag[data-theme='care']"))
        .await
        .unwrap();
    assert!(tags.text().await.unwrap().starts_with("care · "));
    if let Some(dir) = shots {
        std::fs::write(
            dir.join("serve-response.png"),
            client.screenshot().await.unwrap(),
        )
        .unwrap();
    }

    // Remove `care` with a reason.
    client
        .find(Locator::Css("tr[data-theme='care'] input[name='reason']"))
        .await
        .unwrap()
        .send_keys("about social workers, not care")
        .await
        .unwrap();
    click_and_load(
        &client,
        Locator::Css("button.remove-theme[data-theme='care']"),
    )
    .await;
    assert!(
        client
            .find(Locator::Css("tr[data-theme='care']"))
            .await
            .is_err(),
        "care is gone"
    );
    assert!(client.find(Locator::Id("corrections")).await.is_ok());

    // The script payload stayed text.
    client
        .goto(&server.url(&format!("/response?id={PAYLOAD_ID}")))
        .await
        .unwrap();
    assert_ne!(client.title().await.unwrap(), "pwned");
    let shown = text_of(&client, Locator::Id("text")).await;
    assert!(
        shown.contains("<script>document.title='pwned'</script>"),
        "{shown}"
    );

    // Back on the dashboard, after a reload, the count has changed.
    client.goto(&server.url("/")).await.unwrap();
    client.refresh().await.unwrap();
    assert_eq!(count_of("care").await, care_before - 1);
    client.close().await.unwrap();
}
