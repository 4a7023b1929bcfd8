//! report.html in a real browser: headless Chromium renders the bundled
//! sample's report to PNG, and the rendered DOM holds the three charts.
//! Skipped, with the reason printed, where Chromium is not installed
//! (.ci/run installs it, so it runs in CI).

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::util::thematic;

fn chromium() -> Option<PathBuf> {
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        if let Ok(out) = Command::new("which").arg(name).output()
            && out.status.success()
        {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !path.is_empty() {
                return Some(PathBuf::from(path));
            }
        }
    }
    None
}

fn headless(browser: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--window-size=1280,2000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

#[test]
fn the_sample_report_renders_in_headless_chromium_with_three_charts() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: chromium is not installed (apt-get install chromium)");
        return;
    };
    let dir = TempDir::new().unwrap();
    thematic()
        .current_dir(dir.path())
        .args(["run", "--quiet"])
        .assert()
        .success();
    let html = dir.path().join("thematic-out/report.html");
    let url = format!("file://{}", html.display());

    let png = dir.path().join("report.png");
    let status = headless(&browser, &dir.path().join("profile-shot"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .status()
        .expect("run chromium");
    assert!(status.success(), "chromium --screenshot failed: {status}");
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "suspiciously small screenshot: {} bytes",
        bytes.len()
    );

    let dom = headless(&browser, &dir.path().join("profile-dom"))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    assert!(dom.status.success(), "chromium --dump-dom failed");
    let dom = String::from_utf8_lossy(&dom.stdout);
    let document = scraper::Html::parse_document(&dom);
    for chart in ["chart-themes", "chart-crosstab", "chart-cooccurrence"] {
        let selector = scraper::Selector::parse(&format!("svg#{chart}")).unwrap();
        let svg = document.select(&selector).next();
        let svg = svg.unwrap_or_else(|| panic!("rendered page lacks the {chart} chart"));
        let shapes = scraper::Selector::parse("rect").unwrap();
        assert!(
            svg.select(&shapes).count() >= 7,
            "{chart} has too few drawn shapes"
        );
    }
    for label in ["Care", "Delivery", "Safety"] {
        assert!(dom.contains(label), "rendered page lacks {label}");
    }
}
