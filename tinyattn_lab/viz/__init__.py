"""Figures and bertviz glue for looking inside tiny-attention adapters.

Paper: Zhao, Tan, Mei, "Tiny-Attention Adapter: Contexts Are More Important Than the Number of Parameters" (EMNLP 2022,
arXiv 2211.01979), section 2 (heads of width 1) and section 2.2 (the heads as experts, averaged to deploy).
Notebooks: 04_see_the_tiny_attention.ipynb (heatmaps, bertviz, rank 1, token types), 05_head_averaging.ipynb (gap
against expert spread, accuracy and latency bars), 06_play_with_head_count.ipynb (the playground figure).

What lives here (it may import the core and matplotlib, never training, baselines or fewglue):
    maps.py        attention maps as data: bertviz's format, token types, attention mass, rank-1 factors, spread
    figures.py     matplotlib figures of maps and results
    playground.py  notebook 06's figure for the head-count sliders
    bertviz_offline.py  bertviz's head and model views with d3 and jQuery inlined (js/): they draw on the first
                   run in JupyterLab 4, Notebook 7, Colab and nbconvert's HTML, online and offline

Conventions. A *map list* is one (B, h, T, T) tensor per layer: what `TinyAttnModel.record_attention()` collects, or a
transformers model's `.attentions` (with attn_implementation="eager"). The *bertviz format* is one example's maps: a
tuple of (1, h, n, n) tensors cut to its n real tokens. Plotting functions return a closed Figure, so a notebook shows
it exactly once, as the cell's last expression (after `%matplotlib inline`).
"""

from .bertviz_offline import head_view, model_view
from .figures import attention_heatmaps, bar_chart, gap_vs_spread, logit_scatter, metric_vs_params, rank1_figure
from .maps import (TOKEN_TYPES, attention_mass, bertviz_attention, example_tokens, expert_spread, rank1_factors,
                   real_positions, side_by_side, token_types)
from .playground import playground

__all__ = [
    "TOKEN_TYPES", "attention_heatmaps", "attention_mass", "bar_chart", "bertviz_attention", "example_tokens",
    "expert_spread", "gap_vs_spread", "head_view", "logit_scatter", "metric_vs_params", "model_view", "playground",
    "rank1_factors", "rank1_figure", "real_positions", "side_by_side", "token_types",
]
