"""The Quorum MoE engine: torch only, never Django.

    config.py      ModelConfig: sizes, experts, encoder kind, heads
    layers.py      norms, attention (q_proj/k_proj/v_proj/o_proj, the names PEFT targets)
    moe.py         router, experts, dispatch/combine
    encoders.py    front ends: text tokens, tabular features, image patches, molecular graphs
    heads.py       output heads and their losses (incl. the dense per-pixel map head)
    model.py       MoETransformer = encoder + blocks + heads
    ensemble.py    deep ensembles and flip test-time augmentation, read as one model
    tokenizer.py   the WordPiece tokenizer trained on a solution's corpus
    lora.py        PEFT adapters: configs, save/load in PEFT's format, multi-adapter batches
    quant.py       quantization-aware training and int8 export
    train.py       the training loop
    serving.py     model and adapter cache, the dynamic batcher, predict()
    checkpoint.py  safetensors + JSON config; never pickle
    kernels/       Triton kernels beside their torch references
    bench/         benchmarks against the references
"""
