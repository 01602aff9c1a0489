"""tinyattn_lab.viz.bertviz_offline without a browser: the views need nothing from the network, carry d3 and jQuery
exactly once and exactly as shipped (the npm files, checked by hash), keep bertviz's markup and script verbatim, and
refuse HTML of a layout they do not know. tests/browser/ checks that the views draw."""

import hashlib
import re
import tomllib
from pathlib import Path

import pytest
import torch

from tinyattn_lab import viz
from tinyattn_lab.viz import bertviz_offline

bertviz = pytest.importorskip("bertviz")
TOKENS = ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]
JS = Path(bertviz_offline.__file__).parent / "js"
HEADERS = {"d3": "// https://d3js.org v5.7.0 Copyright 2018 Mike Bostock",
           "jquery": "/*! jQuery v2.2.4 | (c) jQuery Foundation | jquery.org/license */"}


def attention(layers=2, heads=3, n=len(TOKENS), seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.softmax(torch.randn(1, heads, n, n, generator=g), -1) for _ in range(layers))


@pytest.mark.parametrize("view", ["head_view", "model_view"])
def test_view_is_self_contained(view):
    html = getattr(viz, view)(attention(), TOKENS).data
    for name, header in HEADERS.items():
        assert html.count(header) == 1 and bertviz_offline.library(name) in html  # inlined once, whole
        html = html.replace(bertviz_offline.library(name), "")  # jQuery's own source mentions "<script"
    assert re.findall(r"<script[^>]*>", html) == ['<script type="text/javascript">']  # one inline script
    assert "require.min.js" not in html and not re.search(r"<script[^>]*\bsrc=", html)  # nothing to download
    # bertviz's require.config still names cdnjs (its script is kept verbatim), but its loader ignores config:
    assert html.count("cdnjs") == 2 and "var require = {config: function () {}};" in html


@pytest.mark.parametrize("view", ["head_view", "model_view"])
def test_bertviz_markup_and_script_kept_verbatim(view):
    original = getattr(bertviz, view)(attention(), TOKENS, html_action="return").data
    found = bertviz_offline.BERTVIZ_HTML.fullmatch(original)
    ours = bertviz_offline.offline_html(original)
    assert ours.startswith(found.group("markup")) and found.group("script").strip() in ours
    root = bertviz_offline.ROOT_ID.search(original).group(1)
    assert f'document.getElementById("{root}")' in ours  # the loader waits for this view's own div


def test_sentence_pairs_and_options_reach_bertviz():
    html = viz.head_view(attention(), TOKENS, sentence_b_start=3, layer=1, heads=[0, 2]).data
    assert "Sentence A -&gt; Sentence B" in html or "Sentence A -> Sentence B" in html
    assert '"layer": 1' in html and '"heads": [0, 2]' in html


def test_shipped_files_are_the_npm_files_with_their_licences():
    readme = (JS / "README.md").read_text()
    for name, file in bertviz_offline.LIBRARIES.items():
        digest = hashlib.sha256((JS / file).read_bytes()).hexdigest()
        assert f"`{digest}`" in readme, f"{file} differs from the npm file recorded in viz/js/README.md"
        assert (JS / file).read_text().startswith(HEADERS[name])  # licence header kept
    assert "Redistribution and use in source and binary forms" in (JS / "LICENSE-d3").read_text()  # BSD-3-Clause
    assert "Permission is hereby granted" in (JS / "LICENSE-jquery").read_text()


def test_package_data_ships_every_file_next_to_the_module():
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["tinyattn_lab.viz"]
    shipped = {p for pattern in patterns for p in JS.parent.glob(pattern)}
    assert shipped == set(JS.iterdir())


def test_unknown_bertviz_layout_is_refused_with_what_to_do():
    with pytest.raises(ValueError, match=r"pin bertviz==1\.4\.1"):
        bertviz_offline.offline_html('<div id="bertviz-00">no script</div>')
