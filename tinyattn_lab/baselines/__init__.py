"""Baselines: tiny attention against the other parameter-efficient methods and full fine-tuning, in one harness.

Paper claim: tiny attention beats the other PEFT methods and full fine-tuning on GLUE. docs/baselines.md and notebook
07 explain. It may import the core, data and training, never fewglue or the CLI.
    methods.py       the method registry: build, save and load each method on a backbone
    method_model.py  the common wrapper (a built model, its trainable parameters and its counts)
    peft_methods.py  LoRA, IA3, prefix and prompt tuning through peft
    bottleneck.py    Houlsby, Pfeiffer and parallel bottleneck adapters (no peft equivalent)
    specs.py         method specs ("lora:r=8"), budgets, cache keys
    compare.py       the comparison: learning-rate sweep, seeds, cached runs
    report.py        tables (JSON, CSV, Markdown) and the metric-against-parameters figure
    probes.py        throughput and memory probes, side by side in one process
    cli.py           `tinyattn-lab compare` and `tinyattn-lab glue`
"""
