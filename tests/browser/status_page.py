"""The status page in a real browser (Debian's Chromium, driven by
Playwright; compiler/tests/status_page.rs starts the page and calls this).

    python status_page.py grid URL STATE_DIR [SHOTS_DIR]
    python status_page.py token URL TOKEN

`grid`: the grid shows the failed cell; its log is readable; markup in a
task's output is text; clear & rerun turns the cell green.
`token`: a page on another address than loopback asks for its token, and
the login form lets the browser in.
Exits 1 with the reason on the first check that fails.
"""

import pathlib
import sys
import time

from playwright.sync_api import sync_playwright

# As root, Chromium needs --no-sandbox; the others keep it off this
# machine's closed network.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def until(page, selector, seconds=60):
    """Reloads `page` until `selector` matches (a run finishing)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if page.locator(selector).count() > 0:
            return True
        time.sleep(0.5)
        page.reload()
    return False


def grid(page, url, state_dir, shots):
    page.goto(url + "/")
    check(page.title().startswith("Grid"), f"the grid's title, got {page.title()!r}")
    failed = page.locator('td.s-failed a[title="load: failed"]')
    check(failed.count() == 1, "one failed cell for `load`")
    check(page.locator('td.s-success a[title="extract: success"]').count() == 1,
          "a green cell for `extract`")
    if shots:
        page.screenshot(path=str(shots / "grid-failed.png"), full_page=True)
    # The failed cell links to its attempt's log.
    failed.click()
    page.wait_for_selector("pre#log")
    log = page.locator("pre#log").inner_text()
    check("loading <i>3 rows</i>" in log, f"the log shows the task's text as written: {log!r}")
    check("no fixed.flag in" in log, f"the log has the task's error output: {log!r}")
    check(page.locator("pre#log i").count() == 0, "markup in the log stays text")
    # The run page: the output's markup is text, no script element made.
    page.locator("a", has_text="manual__").first.click()
    page.wait_for_selector("#t-extract")
    out = page.locator("#t-extract pre.output").inner_text()
    check("<script>window.pwned = 1</script>" in out, f"the output shown as text: {out!r}")
    check(page.locator("script").count() == 0, "no <script> element on the page")
    check(page.evaluate("typeof window.pwned") == "undefined", "the output's script did not run")
    check(page.locator("svg.graph rect.s-failed").count() == 1, "the graph shows `load` failed")
    check(page.locator("svg.gantt rect.bar").count() == 2, "the Gantt has both attempts")
    # Clear & rerun `load`, with the fix in place: it turns green.
    (pathlib.Path(state_dir) / "fixed.flag").write_text("fixed\n")
    page.locator("#t-load button[value=no]").click()
    page.wait_for_selector("#t-load")
    check(until(page, "#t-load .badge.s-success"), "`load` succeeded after clear & rerun")
    check(page.locator("#t-load a.attempt").count() == 2, "`load` has its two attempts")
    if shots:
        page.screenshot(path=str(shots / "run.png"), full_page=True)
    page.goto(url + "/")
    check(page.locator('td.s-success a[title="load: success"]').count() == 1,
          "the grid's cell for `load` is green")
    check(page.locator("td.s-failed").count() == 0, "no failed cell is left")
    if shots:
        page.screenshot(path=str(shots / "grid.png"), full_page=True)


def token(page, url, secret):
    response = page.goto(url + "/")
    check(response.status == 401, f"no token: 401, got {response.status}")
    check("Token needed" in page.content(), "the login form")
    page.fill("input[name=token]", "not-the-token-at-all")
    page.click("button[type=submit]")
    check("That is not the token" in page.content(), "a wrong token is refused")
    page.fill("input[name=token]", secret)
    page.click("button[type=submit]")
    page.wait_for_selector("h1")
    check(page.title().startswith("Grid"), f"in after the login, got {page.title()!r}")
    check(page.goto(url + "/metrics").status == 200, "the cookie opens /metrics too")


def main():
    mode, url = sys.argv[1], sys.argv[2].rstrip("/")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.set_default_timeout(20_000)
        if mode == "grid":
            shots = pathlib.Path(sys.argv[4]) if len(sys.argv) > 4 else None
            if shots:
                shots.mkdir(parents=True, exist_ok=True)
            grid(page, url, sys.argv[3], shots)
        else:
            token(page, url, sys.argv[3])
        browser.close()
    print("ok")


if __name__ == "__main__":
    main()
