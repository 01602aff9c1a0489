"""bertviz's head view and model view as self-contained HTML that draws on the first run, online and offline.

Paper: Zhao, Tan, Mei (EMNLP 2022, arXiv 2211.01979), section 2: the width-1 heads these views show next to the
backbone's. Notebook: 04_see_the_tiny_attention.ipynb (section 4, bertviz).

Why this exists. bertviz 1.4 returns `<script src=".../require.min.js">` followed by an inline script that calls
`require.config({paths: d3, jquery on cdnjs})` and `requirejs(['jquery', 'd3'], draw)`. JupyterLab 4 and Notebook 7
have no require.js of their own and run the inline script before the downloaded one: `require is not defined`, an
empty box (the view appears only when the cell runs a second time, and never offline or in nbconvert's HTML).

What we do. bertviz stays the renderer: its data, markup and script are used verbatim. Its CDN `<script src>` is
dropped, and its script runs inside a function that gives it a local `require` / `requirejs`, backed by d3 5.7.0
and jQuery 2.2.4 shipped in `viz/js/` (versions and licences in `viz/js/README.md`) and inlined once per view.
We deliberately install no global AMD loader: with a global `define.amd` on the page, later UMD scripts of other
outputs would register as anonymous modules instead of globals and break. jQuery is taken back with
`noConflict(true)`, so the page's own `$` (classic Notebook has one) is left as it was.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

JS = Path(__file__).resolve().parent / "js"
LIBRARIES = {"d3": "d3.min.js", "jquery": "jquery.min.js"}  # module name bertviz asks for -> file in viz/js/

# bertviz 1.4's html_action="return" layout: the require.js tag, the markup (its root div), one inline script
BERTVIZ_HTML = re.compile(r'\s*<script src="https?://[^"]*require[^"]*"></script>(?P<markup>.*?)'
                          r'<script type="text/javascript">(?P<script>.*)</script>\s*', re.S)
ROOT_ID = re.compile(r'<div id="(bertviz-[0-9a-f]+)"')
PLACEHOLDER = re.compile(r"/\*(D3|JQUERY|ROOT_ID|BERTVIZ)\*/")

# The local loader bertviz's script sees. `require.config` only ever names cdnjs paths: ignored, nothing is fetched.
# The callback waits until the view's root div is in the document (a notebook may insert the output after running
# its scripts), as require.js's asynchronous callback did.
LOADER = """(function () {
  var libs = {};
  (function (define, module, exports) {
/*D3*/
  }).call(libs);  // d3's UMD header sees no module system and sets this.d3
  (function (define, module, exports) {
/*JQUERY*/
  }).call(window);
  libs.jquery = window.jQuery.noConflict(true);  // give the page back its own $ and jQuery
  var require = {config: function () {}};
  var requirejs = function (names, draw) {
    var tries = 0;
    (function whenAttached() {
      if (document.getElementById(/*ROOT_ID*/)) return draw.apply(null, names.map(function (n) { return libs[n]; }));
      if (++tries < 200) setTimeout(whenAttached, 50);
    })();
  };
/*BERTVIZ*/
})();"""


@lru_cache(maxsize=None)
def library(name: str) -> str:
    """The shipped source of one library (`d3` or `jquery`), licence header included."""
    return (JS / LIBRARIES[name]).read_text(encoding="utf-8")


def offline_html(html: str) -> str:
    """bertviz's returned HTML -> the same view with its libraries inlined and no network access."""
    found = BERTVIZ_HTML.fullmatch(html)
    root = ROOT_ID.search(html)
    if found is None or root is None:
        from importlib.metadata import version
        raise ValueError(f"bertviz {version('bertviz')} returned HTML in a layout this module does not know (it "
                         "expects bertviz 1.4's: a require.js tag, the markup, one script); pin bertviz==1.4.1.")
    parts = {"D3": library("d3"), "JQUERY": library("jquery"), "ROOT_ID": json.dumps(root.group(1)),
             "BERTVIZ": found.group("script").strip()}
    script = PLACEHOLDER.sub(lambda m: parts[m.group(1)], LOADER)  # one pass: inserted text is never rescanned
    return f'{found.group("markup")}<script type="text/javascript">\n{script}\n</script>\n'


def head_view(attention, tokens, sentence_b_start=None, **options):
    """bertviz.head_view(..., html_action="return"), self-contained: an IPython HTML object to end a cell with."""
    from bertviz import head_view as bertviz_head_view
    from IPython.display import HTML

    return HTML(offline_html(bertviz_head_view(attention, tokens, sentence_b_start, html_action="return",
                                               **options).data))


def model_view(attention, tokens, sentence_b_start=None, **options):
    """bertviz.model_view(..., html_action="return"), self-contained: an IPython HTML object to end a cell with."""
    from bertviz import model_view as bertviz_model_view
    from IPython.display import HTML

    return HTML(offline_html(bertviz_model_view(attention, tokens, sentence_b_start, html_action="return",
                                                **options).data))
