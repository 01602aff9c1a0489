"""FewGLUE: 32-example SuperGLUE tasks, PET patterns and verbalizers, a cloze path and a classification-head path.

Paper claim: on FewGLUE tiny attention is comparable to GPT-3 and PET. docs/fewglue.md and notebook 08 explain; the
map of the modules is in cli.py's docstring. It may import the core and data, never training (it has its own few-shot
loop, train.py), baselines or the CLI dispatcher.
"""
