"""``session_capture.js`` run in Node.js against a stand-in for the Contentsquare tag."""

from __future__ import annotations

import json
import shutil
import subprocess

from conftest import EXAMPLES

SNIPPET = EXAMPLES / "call_tracking_enrichment" / "session_capture.js"

# The tag's contract as the documentation states it: commands pushed on window._uxa before
# it loads are replayed; afterwards _uxa.push runs them at once. Both are exercised.
HARNESS = """
const fs = require("fs");
global.window = {};
const seen = [];
const pageViews = JSON.parse(process.argv[2]);
eval(fs.readFileSync(process.argv[1], "utf8"));
function fire(commands) {
  for (const context of pageViews) {
    for (const [name, callback] of commands) {
      if (name === "afterPageView") callback(context);
    }
  }
}
// Before the tag: the snippet registers on a plain array.
window.captureContentsquareSession((session) => seen.push(session));
fire(window._uxa);
// After the tag: _uxa is the tag's object whose push runs a command at once.
const registered = [];
window._uxa = { push: (command) => registered.push(command) };
window.captureContentsquareSession((session) => seen.push({ late: true, ...session }));
fire(registered);
let refused = "";
try { window.captureContentsquareSession("not a function"); } catch (error) { refused = error.name; }
console.log(JSON.stringify({ seen, refused, split: window.splitContentsquareSessionKey("a.b.12") }));
"""


def run(page_views: list[object]) -> dict[str, object]:
    node = shutil.which("node")
    assert node is not None, "Node.js runs the browser snippet's test: install nodejs"
    output = subprocess.run(
        [node, "-e", HARNESS, str(SNIPPET), json.dumps(page_views)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    result: dict[str, object] = json.loads(output)
    return result


def test_the_snippet_hands_over_project_user_and_session() -> None:
    result = run([{"projectId": "123456", "sessionKey": "a1b2c3.7"}])
    assert result["seen"] == [
        {"projectId": 123456, "userId": "a1b2c3", "sessionNumber": 7},
        {"late": True, "projectId": 123456, "userId": "a1b2c3", "sessionNumber": 7},
    ]
    assert result["refused"] == "TypeError"
    assert result["split"] == {"userId": "a.b", "sessionNumber": 12}


def test_the_snippet_ignores_what_is_not_a_session_key() -> None:
    keys: list[object] = [7, "nodot", ".7", "a1b2c3.0", "a1b2c3.x", "a1b2c3.", "a.2147483648"]
    bad: list[object] = [None, {}, *({"projectId": 1, "sessionKey": key} for key in keys)]
    # a good key with no project to send it to: no projectId, or none that is one
    for project in (None, "x", 0, -3, 1.5, "12.5", 2**31, "", True):
        bad.append({"projectId": project, "sessionKey": "a1b2c3.7"})
    bad.append({"sessionKey": "a1b2c3.7"})
    assert run(bad)["seen"] == []


def test_the_snippet_and_parse_session_key_agree() -> None:
    from call_tracking_enrichment import InvalidSessionKey, parse_session_key

    keys = ["a1b2c3.7", "a.b.12", "x.1", "nodot", ".7", "a.0", "a.x", "a.", "a.-3"]
    # ASCII spaces around a key go, and only they; the number is within int32
    keys += [" b.7", "c.7 ", "d.7\n", "e.7\u00a0", "\u00a0f.7", " .7", "a.\u0661"]
    keys += ["a.2147483647", "a.2147483648", "g.00000000007", "a.99999999999999"]
    keys += ["a.0000", "h." + "0" * 5000 + "9"]
    seen = run([{"projectId": 1, "sessionKey": key} for key in keys])["seen"]
    assert isinstance(seen, list)
    from_js = {(entry["userId"], entry["sessionNumber"]) for entry in seen}
    from_python = set()
    for key in keys:
        try:
            from_python.add(tuple(parse_session_key(key)))
        except InvalidSessionKey:
            pass
    assert from_js == from_python == {
        ("a1b2c3", 7),
        ("a.b", 12),
        ("x", 1),
        ("b", 7),
        ("c", 7),
        ("d", 7),
        ("\u00a0f", 7),
        ("a", 2147483647),
        ("g", 7),
        ("h", 9),
    }
