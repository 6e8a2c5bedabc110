"""The status page in a real browser (Debian's Chromium, driven by
Playwright; compiler/tests/status_page.rs starts the page and calls this).

    python status_page.py grid URL STATE_DIR [SHOTS_DIR]
    python status_page.py actions URL
    python status_page.py token URL TOKEN

`grid`: the grid shows the failed cell; its log is readable; markup in a
task's output is text; clear & rerun turns the cell green.
`actions`: a run triggered from the Trigger page with a param appears in
the grid; a param the pipeline does not declare is refused with the
binary's own message; a backfill is previewed (its dry run), then started,
and its runs appear.
`token`: a page on another address than loopback asks for its token, and
the login form lets the browser in.
Exits 1 with the reason on the first check that fails.
"""

import pathlib
import sys
import time
import urllib.request

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


def go(page, target):
    """Clicks `target` (a selector or a locator) and waits for the page it
    leads to: reading the page before that would read the old one."""
    with page.expect_navigation():
        if isinstance(target, str):
            page.click(target)
        else:
            target.click()


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
    go(page, failed)
    page.wait_for_selector("pre#log")
    log = page.locator("pre#log").inner_text()
    check("loading <i>3 rows</i>" in log, f"the log shows the task's text as written: {log!r}")
    check("no fixed.flag in" in log, f"the log has the task's error output: {log!r}")
    check(page.locator("pre#log i").count() == 0, "markup in the log stays text")
    # The run page: the output's markup is text, no script element made.
    go(page, page.locator("a", has_text="manual__").first)
    page.wait_for_selector("#t-extract")
    out = page.locator("#t-extract pre.output").inner_text()
    check("<script>window.pwned = 1</script>" in out, f"the output shown as text: {out!r}")
    check(page.locator("script").count() == 0, "no <script> element on the page")
    check(page.evaluate("typeof window.pwned") == "undefined", "the output's script did not run")
    check(page.locator("svg.graph rect.s-failed").count() == 1, "the graph shows `load` failed")
    check(page.locator("svg.gantt rect.bar").count() == 2, "the Gantt has both attempts")
    # Clear & rerun `load`, with the fix in place: it turns green.
    (pathlib.Path(state_dir) / "fixed.flag").write_text("fixed\n")
    go(page, page.locator("#t-load button[value=no]"))
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


def columns(page, url):
    page.goto(url + "/")
    return page.locator("th.run").count()


def actions(page, url):
    before = columns(page, url)
    go(page, "text=Trigger")
    page.fill("input[name=date]", "2026-11-25")
    page.fill("textarea[name=params]", "")
    go(page, "button[type=submit]")
    page.wait_for_selector("h1")
    check(page.title().startswith("Grid"), f"back to the grid after a trigger, got {page.title()!r}")
    check(until(page, 'th.run a[title="manual__2026-11-25T03:00:00+00:00"]'), "the triggered run is in the grid")
    # A param the pipeline does not declare: the binary's own refusal.
    go(page, "text=Trigger")
    page.fill("input[name=date]", "2026-11-26")
    page.fill("textarea[name=params]", "nope=1")
    go(page, "button[type=submit]")
    page.wait_for_selector("pre.error")
    said = page.locator("pre.error").inner_text()
    check("nope" in said, f"the refusal names the param: {said!r}")
    # Backfill: the preview lists the runs, starts none.
    go(page, "text=Backfill")
    page.fill("input[name=from]", "2026-11-01")
    page.fill("input[name=to]", "2026-11-03")
    go(page, "button[type=submit]")
    page.wait_for_selector("pre.output")
    preview = page.locator("pre.output").inner_text()
    check(preview.count("2026-11-0") >= 3, f"the dry run lists three runs: {preview!r}")
    with urllib.request.urlopen(url + "/") as grid_now:
        shown = grid_now.read().decode().count('<th class="run ')
    check(shown == before + 1, f"the preview started nothing: {shown} runs")
    go(page, "text=Start this backfill")
    page.wait_for_selector("h1")
    check(until(page, 'th.run a[title="backfill__2026-11-03T03:00:00+00:00"]'), "the backfill's runs are in the grid")
    check(page.locator("th.run").count() == before + 4, "three more runs")


def token(page, url, secret):
    response = page.goto(url + "/")
    check(response.status == 401, f"no token: 401, got {response.status}")
    check("Token needed" in page.content(), "the login form")
    page.fill("input[name=token]", "not-the-token-at-all")
    go(page, "button[type=submit]")
    check("That is not the token" in page.content(), "a wrong token is refused")
    page.fill("input[name=token]", secret)
    go(page, "button[type=submit]")
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
        elif mode == "actions":
            actions(page, url)
        else:
            token(page, url, sys.argv[3])
        browser.close()
    print("ok")


if __name__ == "__main__":
    main()
