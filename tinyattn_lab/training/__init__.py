"""Training: one loop for every method, resumable checkpoints, and whole jobs (train, evaluate) on a run folder.

Paper notes 3.1 give the recipe. It may import the core and data; baselines, fewglue and the CLI import it.
    loop.py        TrainArgs, the accelerate loop (AdamW, warmup + decay, clipping, best-dev, resume), evaluation
    checkpoint.py  trainable weights, optimizer, scheduler and random state in safetensors + JSON, written atomically
    jobs.py        train_adapter / evaluate_adapter: a run folder (GLUE or your own file) from start to end
    predict.py     predict(adapter_dir, texts): label names and probabilities (or values) for your own sentences
    options.py     command-line options derived from the dataclasses (TinyAttnConfig, TrainArgs)
    cli.py         the train, evaluate, predict and count subcommands
"""
